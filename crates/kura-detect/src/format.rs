//! File formats recognised from magic bytes and structure (head, tail and byte histogram).

use serde::{Deserialize, Serialize};

/// What a file's bytes say it is. Detection uses only the first [`HEAD_LEN`] bytes, the last
/// [`TAIL_LEN`] bytes and the byte histogram, so it works on a streaming profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// DICOM Part 10 file (`DICM` at offset 128).
    Dicom,
    /// PDF (`%PDF-`).
    Pdf,
    /// ZIP container, including OOXML (docx/xlsx/pptx).
    Zip,
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (8-byte signature).
    Png,
    /// SQLite 3 database.
    Sqlite,
    /// HL7 v2 message (SS-MIX2): starts with `MSH|`.
    Hl7,
    /// Plain text (txt, CSV, SQL dump, XML...), any ASCII-compatible encoding.
    Text,
    /// Zero-length file.
    Empty,
    /// Nothing recognised.
    Unknown,
}

/// Bytes kept from the start of a file for format detection.
pub const HEAD_LEN: usize = 512;
/// Bytes kept from the end of a file for structure checks (trailers).
pub const TAIL_LEN: usize = 1024;

// DICOM PS3.10 §7.1: 128-byte preamble, then "DICM".
const DICM_OFFSET: usize = 128;
// PNG spec §5.2 signature.
const PNG_SIG: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
// sqlite.org/fileformat.html §1.3: header string.
const SQLITE_SIG: &[u8; 16] = b"SQLite format 3\0";

impl Format {
    /// Formats with a magic number and a structure we check; a valid one turning into something
    /// else is strong evidence.
    pub fn is_structured(self) -> bool {
        !matches!(self, Format::Text | Format::Empty | Format::Unknown)
    }

    /// The format a file name promises, from its extension. `None` when the name promises
    /// nothing we check (no extension, or one we do not know).
    pub fn expected_from_ext(ext: &str) -> Option<Format> {
        let f = match ext.to_ascii_lowercase().as_str() {
            "dcm" | "dicom" => Format::Dicom,
            "pdf" => Format::Pdf,
            "zip" | "docx" | "xlsx" | "pptx" | "odt" | "ods" => Format::Zip,
            "jpg" | "jpeg" => Format::Jpeg,
            "png" => Format::Png,
            "sqlite" | "sqlite3" => Format::Sqlite,
            "hl7" => Format::Hl7,
            "txt" | "csv" | "sql" | "log" | "xml" | "json" | "md" | "htm" | "html" | "tsv" => {
                Format::Text
            }
            _ => return None,
        };
        Some(f)
    }
}

/// Byte-histogram facts used by detection.
pub(crate) struct HistFacts {
    /// No byte ≥ 0x80.
    pub seven_bit: bool,
    /// Share of control bytes that never occur in text (everything < 0x20 except TAB, LF, CR,
    /// ESC (ISO-2022-JP), FF; plus DEL).
    pub control_share: f64,
    pub nul: u64,
}

pub(crate) fn hist_facts(counts: &[u64; 256], total: u64) -> HistFacts {
    let high: u64 = counts[0x80..].iter().sum();
    // Only bytes below 0x20 and DEL can be binary controls.
    let control: u64 = counts[..0x20]
        .iter()
        .chain(&counts[0x7f..0x80])
        .zip((0..0x20u8).chain([0x7f]))
        .filter(|&(_, b)| is_binary_control(b))
        .map(|(c, _)| c)
        .sum();
    HistFacts {
        seven_bit: high == 0,
        control_share: if total == 0 {
            0.0
        } else {
            control as f64 / total as f64
        },
        nul: counts[0],
    }
}

fn is_binary_control(b: u8) -> bool {
    (b < 0x20 && TEXT_CONTROLS >> b & 1 == 0) || b == 0x7f
}

/// Bytes below 0x20 that text uses: TAB, LF, FF, CR and ESC (ISO-2022-JP), as a bit set (a
/// branch-free test, so the scan of every file's head vectorises).
const TEXT_CONTROLS: u32 = 1 << b'\t' | 1 << b'\n' | 1 << 0x0c | 1 << b'\r' | 1 << 0x1b;

// Text may have a stray control byte, but encrypted or compressed data has ~11% of them.
const TEXT_MAX_CONTROL_SHARE: f64 = 0.001;

/// Detects the format and whether its structure is intact.
pub(crate) fn detect(head: &[u8], tail: &[u8], size: u64, hist: &HistFacts) -> (Format, bool) {
    if size == 0 {
        return (Format::Empty, true);
    }
    if head.len() >= DICM_OFFSET + 4 && &head[DICM_OFFSET..DICM_OFFSET + 4] == b"DICM" {
        return (Format::Dicom, dicom_meta_ok(&head[DICM_OFFSET + 4..]));
    }
    if head.starts_with(b"%PDF-") {
        // PDF 32000-1 §7.5.5: the file ends with "%%EOF" (allow trailing whitespace).
        return (Format::Pdf, contains(trim_end(tail), b"%%EOF"));
    }
    if head.starts_with(b"PK\x03\x04") {
        // APPNOTE 4.3.16: end of central directory record "PK\x05\x06" at the end.
        return (Format::Zip, contains(tail, b"PK\x05\x06"));
    }
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        // ITU T.81 B.2.1: EOI marker FF D9 ends the image.
        let t = trim_end_zeros(tail);
        return (Format::Jpeg, t.ends_with(&[0xff, 0xd9]));
    }
    if head.starts_with(&PNG_SIG) {
        // PNG §5.6: IEND chunk (type + 4-byte CRC) last.
        let ok = tail.len() >= 8 && &tail[tail.len() - 8..tail.len() - 4] == b"IEND";
        return (Format::Png, ok);
    }
    if head.starts_with(SQLITE_SIG) {
        return (Format::Sqlite, sqlite_header_ok(head));
    }
    // Branch-free over the whole head (it is scanned for every file a backup reads).
    let head_textual = !head
        .iter()
        .fold(false, |any, &b| any | is_binary_control(b));
    let textual = head_textual && hist.nul == 0 && hist.control_share <= TEXT_MAX_CONTROL_SHARE;
    if head.starts_with(b"MSH|") {
        // SS-MIX2: HL7 v2.5 in ISO-2022-JP, which is pure 7-bit.
        return (Format::Hl7, textual && hist.seven_bit);
    }
    if textual {
        return (Format::Text, true);
    }
    (Format::Unknown, false)
}

/// DICOM PS3.10 §7.1: the file meta group follows "DICM" in explicit VR little endian; the first
/// element is in group 0002 with a two-letter upper-case VR.
fn dicom_meta_ok(after: &[u8]) -> bool {
    if after.len() < 8 {
        return false;
    }
    let group = u16::from_le_bytes([after[0], after[1]]);
    group == 0x0002 && after[4].is_ascii_uppercase() && after[5].is_ascii_uppercase()
}

/// sqlite.org/fileformat.html §1.3: page size (offset 16) is a power of two in 512..=32768 or 1
/// (65536); offsets 21..24 hold the fixed payload fractions 64, 32, 32.
fn sqlite_header_ok(head: &[u8]) -> bool {
    if head.len() < 100 {
        return false;
    }
    let page = u16::from_be_bytes([head[16], head[17]]);
    let page_ok = page == 1 || (page >= 512 && page.is_power_of_two());
    page_ok && head[21] == 64 && head[22] == 32 && head[23] == 32
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace() && *c != 0)
        .map_or(0, |i| i + 1);
    &b[..n]
}

fn trim_end_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|c| *c != 0).map_or(0, |i| i + 1);
    &b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(data: &[u8]) -> HistFacts {
        let mut c = [0u64; 256];
        for &b in data {
            c[b as usize] += 1;
        }
        hist_facts(&c, data.len() as u64)
    }

    fn det(data: &[u8]) -> (Format, bool) {
        let head = &data[..data.len().min(HEAD_LEN)];
        let tail = &data[data.len().saturating_sub(TAIL_LEN)..];
        detect(head, tail, data.len() as u64, &facts(data))
    }

    #[test]
    fn pdf_needs_eof_trailer() {
        assert_eq!(det(b"%PDF-1.4\n1 0 obj\n%%EOF\n"), (Format::Pdf, true));
        assert_eq!(det(b"%PDF-1.4\n1 0 obj\n\x01\x02"), (Format::Pdf, false));
    }

    #[test]
    fn hl7_must_be_seven_bit() {
        assert_eq!(det(b"MSH|^~\\&|HIS\rPID|||1\r"), (Format::Hl7, true));
        assert_eq!(det("MSH|^~\\&|山田\r".as_bytes()), (Format::Hl7, false));
    }

    #[test]
    fn dicom_checks_meta_group() {
        let mut d = vec![0u8; 128];
        d.extend_from_slice(b"DICM");
        d.extend_from_slice(&[2, 0, 0, 0, b'U', b'L', 4, 0]);
        assert_eq!(det(&d), (Format::Dicom, true));
        let n = d.len();
        d[n - 4] = 0x91;
        assert_eq!(det(&d), (Format::Dicom, false));
    }

    #[test]
    fn binary_controls_are_the_c0_bytes_text_does_not_use_and_del() {
        let text_controls = [b'\t', b'\n', 0x0c, b'\r', 0x1b];
        for b in 0..=255u8 {
            let want = (b < 0x20 && !text_controls.contains(&b)) || b == 0x7f;
            assert_eq!(is_binary_control(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn binary_is_unknown_and_text_is_text() {
        let bin: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        assert_eq!(det(&bin).0, Format::Unknown);
        assert_eq!(det(b"id,name\n1,yamada\n"), (Format::Text, true));
        assert_eq!(det(b""), (Format::Empty, true));
    }
}
