//! Snapshots: the RDB file format (used for full resynchronisation now, and
//! for backups later) and its CRC-64 checksum.

pub mod crc64;
pub mod rdb;
