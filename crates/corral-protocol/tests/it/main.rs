//! Integration tests of corral-protocol: property tests of the envelope writer and parser,
//! and the fuzz corpus replayed through the fuzz targets' checks.

mod fuzz_corpus;
mod proptests;
