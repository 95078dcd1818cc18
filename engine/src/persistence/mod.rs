//! Snapshots: the RDB file format (full resynchronisation, SAVE/BGSAVE,
//! SHUTDOWN, DUMP payloads), its CRC-64 checksum, and the bookkeeping of
//! saves (`save`).

pub mod crc64;
pub mod lzf;
pub mod rdb;
pub mod save;
