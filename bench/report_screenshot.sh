#!/usr/bin/env bash
# The HTML report in a real browser: a sweep writes it, headless Chromium takes a screenshot,
# and the screenshot is checked for the charts (a page of mostly white means they did not
# render). Installs Debian's chromium if it is missing.
#   bash bench/report_screenshot.sh [SCENARIO] [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-partition-consistency}
png=${2:-target/report-screenshot.png}
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
target/release/faultline sweep "$scenario" --seeds 1..5 --report "$dir" > /dev/null
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,2600 \
  --screenshot="$png" "file://$dir/index.html" 2>/dev/null
python3 - "$png" "$dir/index.html" <<'PY'
import struct, sys, zlib
png, html = sys.argv[1], open(sys.argv[2]).read()
data = open(png, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c
raw, stride = zlib.decompress(idat), w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth(a, b, c))[f]) & 255
    rows.append(line)
    prev = line
coloured = sum(1 for r in rows for x in range(0, stride, bpp) if max(r[x:x + 3]) - min(r[x:x + 3]) > 60)
# Pixels of the first two variants' colours (src/html.rs, Okabe-Ito blue and vermillion),
# anti-aliasing allowed for: each variant's lines must be on the page.
def near(px, c):
    return all(abs(int(a) - b) < 40 for a, b in zip(px, c))
per_variant = [sum(1 for r in rows for x in range(0, stride, bpp) if near(r[x:x + 3], c))
               for c in ((0, 114, 178), (213, 94, 0))]
charts = html.count("<svg")
print(f"screenshot {w}x{h}: {coloured} coloured pixels, {per_variant} in the first two variants' colours; "
      f"the page has {charts} SVG charts")
assert charts == 5, charts
assert coloured > 8000, "the charts' coloured lines and bars are missing from the screenshot"
assert min(per_variant) > 1500, "a variant's lines are missing from the screenshot"
PY
echo "ok: $png"
