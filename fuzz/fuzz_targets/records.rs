//! `records`: see `gridsync_testkit::fuzzing::records` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridsync_testkit::fuzzing::records(data));
