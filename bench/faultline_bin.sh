# Sourced by the timing scripts (from the repository root): sets `bin` to $FAULTLINE if given
# (e.g. the PGO build: FAULTLINE=$(bash bench/pgo_build.sh)), else builds the plain release one.
if [ -n "${FAULTLINE:-}" ]; then
  bin=$FAULTLINE
else
  cargo build --release --quiet
  bin=target/release/faultline
fi
