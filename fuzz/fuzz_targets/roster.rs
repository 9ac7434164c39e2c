//! `roster`: see `gridsync_testkit::fuzzing::roster` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridsync_testkit::fuzzing::roster(data));
