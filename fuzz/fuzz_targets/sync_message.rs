//! `sync_message`: see `gridsync_testkit::fuzzing::sync_message` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridsync_testkit::fuzzing::sync_message(data));
