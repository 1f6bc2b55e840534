//! A test printed by `faultline shrink` for the planted bug of tests/scenarios/planted-bug.toml,
//! pasted as printed (tests/it/properties.rs checks it is still what the shrinker prints). It
//! fails — the bug is planted — hence `should_panic`.

#[should_panic(expected = "does not hold")]
/// Shrunk by `faultline shrink` from 21 faults to 2 (36 runs).
#[test]
fn shrunk_planted_bug_buggy_seed_12() {
    let replay = r#"{
  "format": 1,
  "faultline_version": "0.1.0",
  "sim_revision": 16,
  "scenario": "planted-bug",
  "text": "[[database]]\nbug_ack_before_commit = true\nconsistency = \"strong\"\nelection_timeout_ms = 300\nheartbeat_interval_ms = 30\nname = \"kv\"\nrecord_history = true\nreplicas = 3\nshards = 1\nzones = [\"us-a\", \"eu-a\", \"ap-a\"]\n\n[database.service_time]\ndist = \"exponential\"\nmean_ms = 1\n\n[[expect]]\ncheck = \"anomalies.lost_update == 0\"\n\n[[fault]]\nduration_s = 1.5\nfrom = [\"eu\"]\nkind = \"partition\"\nname = \"partition eu ↔ us\"\none_way = false\nstart_s = 2.4\nto = [\"us\"]\n\n[[fault]]\nduration_s = 0.4\nfrom = [\"ap\"]\nkind = \"partition\"\nname = \"partition ap ↔ us\"\none_way = false\nstart_s = 3.0\nto = [\"us\"]\n\n[[region]]\nname = \"us\"\nzones = [\"us-a\"]\n\n[[region]]\nname = \"eu\"\nzones = [\"eu-a\"]\n\n[[region]]\nname = \"ap\"\nzones = [\"ap-a\"]\n\n[scenario]\nduration_s = 5\nname = \"planted-bug\"\nseed = 1\nwindow_ms = 1000\n\n[topology.latency.cross_region]\ndist = \"lognormal\"\np50_ms = 20\np99_ms = 40\n\n[topology.latency.cross_zone]\ndist = \"lognormal\"\np50_ms = 1\np99_ms = 3\n\n[topology.latency.same_zone]\ndist = \"lognormal\"\np50_ms = 0.3\np99_ms = 1\n\n[[variant]]\nname = \"buggy\"\n\n[[workload]]\nname = \"users-us\"\ntarget = \"kv\"\ntimeout_ms = 300\nusers = 1\nzone = \"us-a\"\n\n[workload.keys]\ncount = 10\n\n[[workload.mix]]\nkind = \"read\"\nop = \"read\"\nweight = 1\n\n[[workload.mix]]\nkind = \"write\"\nop = \"write\"\nweight = 1\n\n[workload.think_time]\ndist = \"exponential\"\nmean_ms = 50\n\n[[workload]]\nname = \"users-eu\"\ntarget = \"kv\"\ntimeout_ms = 300\nusers = 1\nzone = \"eu-a\"\n\n[workload.keys]\ncount = 10\n\n[[workload.mix]]\nkind = \"read\"\nop = \"read\"\nweight = 1\n\n[[workload.mix]]\nkind = \"write\"\nop = \"write\"\nweight = 1\n\n[workload.think_time]\ndist = \"exponential\"\nmean_ms = 50\n",
  "variant": "buggy",
  "seed": 12,
  "commands": [],
  "trace_hash": "a9abc69b5378217b",
  "events": 1413
}"#;
    faultline_scenarios::shrink::assert_holds(replay, "anomalies.lost_update == 0", None);
}
