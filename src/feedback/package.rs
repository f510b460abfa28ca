//! A zip package written in one pass into memory: each part deflated by
//! libdeflate or stored as it is, then the central directory.
//!
//! The feedback workbooks are written this way because the zip crate
//! deflates only through its own encoder, several times slower at its
//! lightest level than libdeflate's (the sheets were stored uncompressed to
//! spare that: 36 KB a workbook instead of 13 KB, and a national pass wrote
//! 300 MB of feedback, which the kernel then copied and synced), and it has
//! no way to take a part compressed elsewhere. Only what a workbook needs
//! is written: names in ASCII, under 65,535 parts, under 4 GiB, no zip64,
//! every part dated 1980-01-01 00:00 (the zip epoch) as before.

use std::cell::RefCell;

use libdeflater::{CompressionLvl, Compressor};

const STORED: u16 = 0;
const DEFLATED: u16 = 8;
/// Version 2.0 of the format: deflate, no zip64.
const VERSION: u16 = 20;
/// 1980-01-01 as an MS-DOS date (day 1, month 1, year 0); the time is 0.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// The package would need zip64: a part or the whole beyond 4 GiB, or
/// more than 65,535 parts.
#[derive(Debug, thiserror::Error)]
#[error("the part {part} does not fit a zip package without zip64 (4 GiB, 65,535 parts)")]
pub(super) struct TooLarge {
    part: String,
}

/// One part, compressed (or not) and ready to be copied into packages.
#[derive(Debug, Clone)]
pub(super) struct Part {
    name: String,
    method: u16,
    crc32: u32,
    size: usize,
    data: Vec<u8>,
}

thread_local! {
    /// Each writing thread's compressor at libdeflate's lightest level
    /// that compresses, 1 (0 only stores; made once: it holds tens of
    /// kilobytes of tables).
    static FASTEST: RefCell<Compressor> =
        RefCell::new(Compressor::new(CompressionLvl::new(1).unwrap_or_default()));
}

impl Part {
    /// `bytes` as they are.
    pub(super) fn stored(name: &str, bytes: &[u8]) -> Part {
        Part {
            name: name.to_string(),
            method: STORED,
            crc32: libdeflater::crc32(bytes),
            size: bytes.len(),
            data: bytes.to_vec(),
        }
    }

    /// `bytes` deflated at libdeflate's lightest level, for the parts of
    /// each package (stored when deflating gains nothing).
    pub(super) fn deflated(name: &str, bytes: &[u8]) -> Part {
        FASTEST.with_borrow_mut(|compressor| Part::deflated_by(compressor, name, bytes))
    }

    /// `bytes` deflated at libdeflate's best level, for the parts made once
    /// and copied into every package.
    pub(super) fn deflated_once(name: &str, bytes: &[u8]) -> Part {
        Part::deflated_by(&mut Compressor::new(CompressionLvl::best()), name, bytes)
    }

    fn deflated_by(compressor: &mut Compressor, name: &str, bytes: &[u8]) -> Part {
        let mut data = vec![0; compressor.deflate_compress_bound(bytes.len())];
        match compressor.deflate_compress(bytes, &mut data) {
            Ok(length) if length < bytes.len() => {
                data.truncate(length);
                Part {
                    name: name.to_string(),
                    method: DEFLATED,
                    crc32: libdeflater::crc32(bytes),
                    size: bytes.len(),
                    data,
                }
            }
            // Incompressible, or (never, with a buffer of the bound) no room.
            _ => Part::stored(name, bytes),
        }
    }
}

/// A package being written: the local headers and data, and the central
/// directory that [`Package::finish`] puts after them.
#[derive(Debug, Default)]
pub(super) struct Package {
    bytes: Vec<u8>,
    directory: Vec<u8>,
    parts: u16,
}

impl Package {
    /// An empty package with room for `capacity` bytes.
    pub(super) fn with_capacity(capacity: usize) -> Package {
        Package {
            bytes: Vec::with_capacity(capacity),
            ..Package::default()
        }
    }

    /// Appends `part`.
    ///
    /// # Errors
    /// [`TooLarge`] when the package would need zip64.
    pub(super) fn add(&mut self, part: &Part) -> Result<(), TooLarge> {
        let too_large = || TooLarge {
            part: part.name.clone(),
        };
        let offset = u32::try_from(self.bytes.len()).map_err(|_| too_large())?;
        let compressed = u32::try_from(part.data.len()).map_err(|_| too_large())?;
        let size = u32::try_from(part.size).map_err(|_| too_large())?;
        let name_length = u16::try_from(part.name.len()).map_err(|_| too_large())?;
        self.parts = self.parts.checked_add(1).ok_or_else(too_large)?;
        // The fields a local header and a central directory entry share.
        let common = |out: &mut Vec<u8>| {
            put16(out, VERSION);
            put16(out, 0); // flags: no data descriptor, ASCII name
            put16(out, part.method);
            put16(out, DOS_TIME);
            put16(out, DOS_DATE);
            put32(out, part.crc32);
            put32(out, compressed);
            put32(out, size);
            put16(out, name_length);
            put16(out, 0); // extra field length
        };
        put32(&mut self.bytes, 0x0403_4b50);
        common(&mut self.bytes);
        self.bytes.extend_from_slice(part.name.as_bytes());
        self.bytes.extend_from_slice(&part.data);

        put32(&mut self.directory, 0x0201_4b50);
        put16(&mut self.directory, VERSION); // made by: MS-DOS attributes, 2.0
        common(&mut self.directory);
        put16(&mut self.directory, 0); // comment length
        put16(&mut self.directory, 0); // disk number
        put16(&mut self.directory, 0); // internal attributes
        put32(&mut self.directory, 0); // external attributes
        put32(&mut self.directory, offset);
        self.directory.extend_from_slice(part.name.as_bytes());
        Ok(())
    }

    /// The package's bytes, its central directory written.
    ///
    /// # Errors
    /// [`TooLarge`] when the directory would start beyond 4 GiB.
    pub(super) fn finish(mut self) -> Result<Vec<u8>, TooLarge> {
        let too_large = || TooLarge {
            part: "central directory".into(),
        };
        let offset = u32::try_from(self.bytes.len()).map_err(|_| too_large())?;
        let length = u32::try_from(self.directory.len()).map_err(|_| too_large())?;
        self.bytes.extend_from_slice(&self.directory);
        put32(&mut self.bytes, 0x0605_4b50);
        put16(&mut self.bytes, 0); // this disk
        put16(&mut self.bytes, 0); // the directory's disk
        put16(&mut self.bytes, self.parts);
        put16(&mut self.bytes, self.parts);
        put32(&mut self.bytes, length);
        put32(&mut self.bytes, offset);
        put16(&mut self.bytes, 0); // comment length
        Ok(self.bytes)
    }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    #[test]
    fn a_package_reads_back_part_by_part_with_the_zip_crate() {
        let sheet = "<row><c r=\"A1\" t=\"inlineStr\"><is><t>Số người</t></is></c></row>".repeat(400);
        let once = "<Types/>".repeat(50);
        let parts = [
            Part::deflated_once("[Content_Types].xml", once.as_bytes()),
            Part::stored("docProps/core.xml", b"<core/>"),
            Part::deflated("xl/worksheets/sheet1.xml", sheet.as_bytes()),
            // Too short to gain from deflating: stored.
            Part::deflated("xl/empty.xml", b"x"),
            Part::stored("xl/nothing.xml", b""),
        ];
        let mut package = Package::with_capacity(1024);
        for part in &parts {
            package.add(part).unwrap();
        }
        let bytes = package.finish().unwrap();
        assert!(
            bytes.len() < sheet.len() / 4,
            "the sheet is deflated: {} bytes",
            bytes.len()
        );

        // Read by another implementation, which checks every CRC as it reads.
        let mut zip = zip::ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let expected: [(&str, &[u8], zip::CompressionMethod); 5] = [
            ("[Content_Types].xml", once.as_bytes(), zip::CompressionMethod::Deflated),
            ("docProps/core.xml", b"<core/>", zip::CompressionMethod::Stored),
            (
                "xl/worksheets/sheet1.xml",
                sheet.as_bytes(),
                zip::CompressionMethod::Deflated,
            ),
            ("xl/empty.xml", b"x", zip::CompressionMethod::Stored),
            ("xl/nothing.xml", b"", zip::CompressionMethod::Stored),
        ];
        assert_eq!(zip.len(), expected.len());
        for (i, (name, content, method)) in expected.into_iter().enumerate() {
            let mut file = zip.by_index(i).unwrap();
            assert_eq!(file.name().unwrap(), name);
            assert_eq!(file.compression(), method, "{name}");
            let mut read = Vec::new();
            file.read_to_end(&mut read).unwrap();
            assert_eq!(read, content, "{name}");
        }
        // And by the quick reader's inflater (libdeflate), from the offsets
        // the central directory gives.
        let file = zip.by_name("xl/worksheets/sheet1.xml").unwrap();
        let start = usize::try_from(file.data_start().unwrap()).unwrap();
        let compressed = &bytes[start..start + usize::try_from(file.compressed_size()).unwrap()];
        let mut inflated = vec![0; sheet.len()];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(compressed, &mut inflated)
            .unwrap();
        assert_eq!(&inflated[..n], sheet.as_bytes());
    }

    #[test]
    fn a_name_too_long_for_the_format_is_refused_by_name() {
        let name = "x".repeat(70_000);
        let error = Package::default().add(&Part::stored(&name, b"")).unwrap_err();
        assert!(error.to_string().contains("xxxx"), "{error}");
    }
}
