//! The operator CLI's library: what `admin` does beyond one store call, so tests can drive it
//! in process (the importer and the exporter).

pub mod users;
