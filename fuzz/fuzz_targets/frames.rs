//! `frames`: see `gridsync_testkit::fuzzing::frames` for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gridsync_testkit::fuzzing::frames(data));
