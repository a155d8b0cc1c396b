//! Seeded hospital-like file trees for detection tests, and the benign workloads that change them.
//!
//! [`hospital_tree`] writes valid files of the kinds a hospital file server holds: SS-MIX2 HL7
//! messages (ISO-2022-JP, no extension), DICOM (compressed and uncompressed), scanned PDFs, JPEG
//! and PNG photos, docx (a real zip), a SQLite database, CSV lab exports, SQL dumps and notes.
//! Each workload ([`clinic_day`], [`pacs_ingest`], ...) is ordinary work that detection must not
//! call an attack. Everything is deterministic in the seed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every regular file under `dir`, sorted.
pub fn list_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, bytes)
}

fn rng(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

const DEPTS: &[&str] = &["naika", "geka", "seikei", "shonika", "hoshasen", "kensa"];
const WORDS: &[&str] = &[
    "patient",
    "stable",
    "allergy",
    "penicillin",
    "blood",
    "pressure",
    "ward",
    "discharge",
    "follow-up",
    "prescription",
    "fever",
    "cough",
    "CT",
    "scan",
    "normal",
    "referral",
    "diabetes",
    "insulin",
    "HbA1c",
    "surgery",
    "wound",
    "dressing",
    "infection",
    "MRSA",
    "negative",
    "the",
    "and",
    "was",
    "with",
    "no",
    "of",
    "to",
    "in",
    "for",
];
const KANJI_NAMES: &[&str] = &[
    "山田^太郎",
    "佐藤^花子",
    "鈴木^一郎",
    "高橋^美咲",
    "田中^健",
    "伊藤^さくら",
];
const KANA_NAMES: &[&str] = &[
    "ヤマダ^タロウ",
    "サトウ^ハナコ",
    "スズキ^イチロウ",
    "タカハシ^ミサキ",
    "タナカ^ケン",
    "イトウ^サクラ",
];

fn sentence(r: &mut ChaCha8Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS.choose(r).copied().unwrap_or("note"));
    }
    s.push('.');
    s
}

/// Bytes that look compressed (JPEG scan data, deflate): 7.6–7.9 bits/byte but, unlike
/// ciphertext, not uniformly distributed.
pub fn compressed_like(r: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.fill_bytes(&mut v);
    let mut skew = vec![0u8; n];
    r.fill_bytes(&mut skew);
    for (b, s) in v.iter_mut().zip(&skew) {
        if *s < 48 {
            *b &= 0x1f;
        }
        if *b == 0xff {
            *b = 0xfe; // no markers inside JPEG scan data
        }
    }
    v
}

/// A DICOM Part 10 file: preamble, `DICM`, file meta group, a few patient elements and pixel
/// data (JPEG-compressed fragments, or 16-bit raw pixels).
pub fn dicom(r: &mut ChaCha8Rng, compressed: bool, pixel_bytes: usize) -> Vec<u8> {
    fn el(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) {
        let mut v = value.to_vec();
        if v.len() % 2 == 1 {
            v.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
        }
        out.extend_from_slice(&group.to_le_bytes());
        out.extend_from_slice(&elem.to_le_bytes());
        out.extend_from_slice(vr);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&(v.len() as u16).to_le_bytes());
        }
        out.extend_from_slice(&v);
    }
    let uid = format!(
        "1.2.392.200036.9116.2.{}.{}",
        r.random_range(1000..9999),
        r.random_range(1..1_000_000u32)
    );
    let ts: &[u8] = if compressed {
        b"1.2.840.10008.1.2.4.50"
    } else {
        b"1.2.840.10008.1.2.1"
    };
    let mut meta = Vec::new();
    el(&mut meta, 0x0002, 0x0001, b"OB", &[0, 1]);
    el(
        &mut meta,
        0x0002,
        0x0002,
        b"UI",
        b"1.2.840.10008.5.1.4.1.1.2",
    );
    el(&mut meta, 0x0002, 0x0003, b"UI", uid.as_bytes());
    el(&mut meta, 0x0002, 0x0010, b"UI", ts);
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    el(
        &mut out,
        0x0002,
        0x0000,
        b"UL",
        &(meta.len() as u32).to_le_bytes(),
    );
    out.extend_from_slice(&meta);
    let modality = ["CT", "MR", "CR", "US"][r.random_range(0..4)];
    el(&mut out, 0x0008, 0x0060, b"CS", modality.as_bytes());
    el(&mut out, 0x0010, 0x0010, b"PN", b"YAMADA^TARO");
    el(
        &mut out,
        0x0010,
        0x0020,
        b"LO",
        format!("{:010}", r.random_range(0..10_000_000_000u64)).as_bytes(),
    );
    if compressed {
        // PS3.5 A.4: encapsulated pixel data, undefined length, items, sequence delimiter.
        out.extend_from_slice(&[
            0xe0, 0x7f, 0x10, 0x00, b'O', b'B', 0, 0, 0xff, 0xff, 0xff, 0xff,
        ]);
        out.extend_from_slice(&[0xfe, 0xff, 0x00, 0xe0, 0, 0, 0, 0]);
        let mut frag = vec![0xff, 0xd8, 0xff, 0xdb];
        frag.extend_from_slice(&compressed_like(r, pixel_bytes));
        frag.extend_from_slice(&[0xff, 0xd9]);
        if frag.len() % 2 == 1 {
            frag.push(0);
        }
        out.extend_from_slice(&[0xfe, 0xff, 0x00, 0xe0]);
        out.extend_from_slice(&(frag.len() as u32).to_le_bytes());
        out.extend_from_slice(&frag);
        out.extend_from_slice(&[0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);
    } else {
        let n = pixel_bytes / 2;
        let mut px = Vec::with_capacity(n * 2);
        let base = r.random_range(200..1200i32);
        for i in 0..n {
            let v = base + ((i % 256) as i32 - 128).abs() * 3 + r.random_range(-12..12);
            px.extend_from_slice(&(v.clamp(0, 4095) as u16).to_le_bytes());
        }
        el(&mut out, 0x7fe0, 0x0010, b"OW", &px);
    }
    out
}

/// A JPEG/JFIF image (markers and compressed-looking scan data).
pub fn jpeg(r: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    v.extend_from_slice(&[0xff, 0xdb, 0x00, 0x43, 0x00]);
    v.extend((0..64u8).map(|i| 1 + i / 4));
    v.extend_from_slice(&[0xff, 0xc0, 0, 11, 8, 1, 0, 1, 0, 1, 1, 0x11, 0]);
    v.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0]);
    v.extend_from_slice(&compressed_like(r, n));
    v.extend_from_slice(&[0xff, 0xd9]);
    v
}

/// A PNG image (IHDR, one IDAT, IEND).
pub fn png(r: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]); // CRC not checked by anyone here
    }
    let mut v = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    chunk(&mut v, b"IHDR", &[0, 0, 2, 0, 0, 0, 2, 0, 8, 2, 0, 0, 0]);
    chunk(&mut v, b"IDAT", &compressed_like(r, n));
    v.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);
    v
}

/// A PDF: a scanned page (DCT image stream) or a text page.
pub fn pdf(r: &mut ChaCha8Rng, scanned: bool, n: usize) -> Vec<u8> {
    let mut v =
        b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            .to_vec();
    v.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    v.extend_from_slice(b"3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n");
    let stream = if scanned {
        jpeg(r, n)
    } else {
        let mut t = String::new();
        while t.len() < n {
            t.push_str(&format!(
                "BT /F1 11 Tf 72 {} Td ({}) Tj ET\n",
                r.random_range(50..750),
                sentence(r, 9)
            ));
        }
        t.into_bytes()
    };
    let filter = if scanned { " /Filter /DCTDecode" } else { "" };
    v.extend_from_slice(
        format!("4 0 obj\n<< /Length {}{filter} >>\nstream\n", stream.len()).as_bytes(),
    );
    v.extend_from_slice(&stream);
    v.extend_from_slice(b"\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \ntrailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n9\n%%EOF\n");
    v
}

/// A docx: a real zip with the OOXML parts.
pub fn docx(r: &mut ChaCha8Rng, paragraphs: usize) -> io::Result<Vec<u8>> {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>",
    );
    for _ in 0..paragraphs {
        body.push_str(&format!(
            "<w:p><w:r><w:t>{}</w:t></w:r></w:p>",
            sentence(r, 12)
        ));
    }
    body.push_str("</w:body></w:document>");
    let parts: [(&str, String); 3] = [
        ("[Content_Types].xml", "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>".into()),
        ("_rels/.rels", "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"officeDocument\" Target=\"word/document.xml\"/></Relationships>".into()),
        ("word/document.xml", body),
    ];
    zip_parts(
        parts
            .iter()
            .map(|(n, b)| (n.to_string(), b.as_bytes().to_vec())),
    )
}

/// A zip (deflated) of the given named parts.
pub fn zip_parts(parts: impl IntoIterator<Item = (String, Vec<u8>)>) -> io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in parts {
        z.start_file(name, opts).map_err(io::Error::other)?;
        z.write_all(&bytes)?;
    }
    Ok(z.finish().map_err(io::Error::other)?.into_inner())
}

/// A SQLite 3 database file: valid 100-byte header and pages of record-like text.
pub fn sqlite(r: &mut ChaCha8Rng, pages: u32) -> Vec<u8> {
    let page = 4096usize;
    let mut v = vec![0u8; page * pages as usize];
    v[..16].copy_from_slice(b"SQLite format 3\0");
    v[16..18].copy_from_slice(&4096u16.to_be_bytes());
    v[18] = 1;
    v[19] = 1;
    v[21] = 64;
    v[22] = 32;
    v[23] = 32;
    v[24..28].copy_from_slice(&r.random_range(1..1000u32).to_be_bytes());
    v[28..32].copy_from_slice(&pages.to_be_bytes());
    v[44..48].copy_from_slice(&4u32.to_be_bytes());
    v[96..100].copy_from_slice(&3_045_001u32.to_be_bytes());
    for p in 0..pages as usize {
        let start = if p == 0 { 100 } else { p * page };
        let mut rec = Vec::new();
        while rec.len() < page * 3 / 4 {
            rec.extend_from_slice(
                format!(
                    "\x05{}|{}|{}\x00",
                    r.random_range(1..99999),
                    sentence(r, 4),
                    r.random_range(0..400)
                )
                .as_bytes(),
            );
        }
        let end = ((p + 1) * page).min(start + rec.len());
        v[start..end].copy_from_slice(&rec[..end - start]);
    }
    v
}

fn iso2022jp(s: &str) -> Vec<u8> {
    encoding_rs::ISO_2022_JP.encode(s).0.into_owned()
}

/// An SS-MIX2 HL7 v2.5 message in ISO-2022-JP (pure 7-bit), segments separated by CR.
pub fn hl7(r: &mut ChaCha8Rng, pid: &str, kind: &str) -> Vec<u8> {
    let i = r.random_range(0..KANJI_NAMES.len());
    let ts = format!(
        "2024{:02}{:02}{:02}{:02}00",
        r.random_range(1..13),
        r.random_range(1..29),
        r.random_range(0..24),
        r.random_range(0..60)
    );
    let mut s = format!(
        "MSH|^~\\&|HIS123|SEND|SSMIX2|RCV|{ts}||{}|{}|P|2.5||||||~ISO IR87||ISO 2022-1994\r",
        kind.replace('-', "^"),
        r.random_range(100_000..999_999)
    );
    s.push_str(&format!(
        "PID|0001||{pid}^^^^PI||{}^^^^^^L^I~{}^^^^^^L^P||19{:02}0101|{}\r",
        KANJI_NAMES[i],
        KANA_NAMES[i],
        r.random_range(20..99),
        if i % 2 == 0 { "M" } else { "F" }
    ));
    let items = [
        ("ペニシリン", "薬剤アレルギー"),
        ("糖尿病", "E11"),
        ("高血圧症", "I10"),
        ("ＭＲＳＡ", "感染症"),
        ("アムロジピン錠５ｍｇ", "処方"),
    ];
    for k in 0..r.random_range(3..12) {
        let (a, b) = items[r.random_range(0..items.len())];
        s.push_str(&format!(
            "OBX|{k}|CWE|{}^{a}^JC10||{b}^{}||||||F\r",
            r.random_range(1000..9999),
            r.random_range(1..500)
        ));
    }
    iso2022jp(&s)
}

fn ssmix_path(r: &mut ChaCha8Rng, pid: &str, flag: u8) -> String {
    let kinds = ["ADT-00", "OMP-01", "OML-11", "PPR-01", "OMP-11"];
    let kind = kinds[r.random_range(0..kinds.len())];
    let date = format!(
        "2024{:02}{:02}",
        r.random_range(1..13),
        r.random_range(1..29)
    );
    format!(
        "ssmix2/{}/{}/{pid}/{date}/{kind}/{pid}_{date}_{kind}_{:06}_{date}{:09}_{:02}_{flag}",
        &pid[..3],
        &pid[3..6],
        r.random_range(0..999_999),
        r.random_range(0..999_999_999u32),
        r.random_range(1..40)
    )
}

fn csv(r: &mut ChaCha8Rng, rows: usize) -> Vec<u8> {
    let mut s = String::from("patient_id,date,test,value,unit,flag\n");
    let tests = [
        ("HbA1c", "%"),
        ("CRP", "mg/dL"),
        ("WBC", "10^3/uL"),
        ("Na", "mmol/L"),
        ("eGFR", "mL/min"),
    ];
    for _ in 0..rows {
        let (t, u) = tests[r.random_range(0..tests.len())];
        s.push_str(&format!(
            "{:010},2024-{:02}-{:02},{t},{}.{},{u},{}\n",
            r.random_range(0..10_000_000_000u64),
            r.random_range(1..13),
            r.random_range(1..29),
            r.random_range(0..200),
            r.random_range(0..10),
            ["", "H", "L"][r.random_range(0..3)]
        ));
    }
    s.into_bytes()
}

fn sql_row(r: &mut ChaCha8Rng, id: u64) -> String {
    format!(
        "INSERT INTO patients (id, name, birth, note) VALUES ({id}, '{}', '19{:02}-{:02}-01', '{}');\n",
        KANA_NAMES[r.random_range(0..KANA_NAMES.len())],
        r.random_range(20..99),
        r.random_range(1..13),
        sentence(r, 6)
    )
}

fn sql_dump(r: &mut ChaCha8Rng, rows: u64) -> Vec<u8> {
    let mut s = String::from(
        "-- EMR dump\nBEGIN TRANSACTION;\nCREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT, birth TEXT, note TEXT);\n",
    );
    for id in 0..rows {
        s.push_str(&sql_row(r, id));
    }
    s.push_str("COMMIT;\n");
    s.into_bytes()
}

fn note(r: &mut ChaCha8Rng, lines: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..lines {
        if i % 5 == 4 {
            s.push_str("申し送り: 著変なし。\n");
        } else {
            s.push_str(&sentence(r, 10));
            s.push('\n');
        }
    }
    s.into_bytes()
}

fn pid(r: &mut ChaCha8Rng) -> String {
    format!("{:010}", r.random_range(0..10_000_000_000u64))
}

fn month(r: &mut ChaCha8Rng) -> String {
    format!(
        "{}-{:02}",
        r.random_range(2023..2025),
        r.random_range(1..13)
    )
}

/// Writes a hospital-like tree of `files` files under `dir` (≥ 10; a few percent are SQL dumps
/// and SQLite files of 40–200 KiB, the rest 1–60 KiB). Returns the files written.
pub fn hospital_tree(dir: &Path, files: usize, seed: u64) -> io::Result<Vec<PathBuf>> {
    let mut r = rng(seed, 1);
    let mut out = Vec::with_capacity(files);
    let patients: Vec<String> = (0..(files / 8).max(3)).map(|_| pid(&mut r)).collect();
    for n in 0..files {
        let roll = r.random_range(0..1000);
        let (rel, bytes) = match roll {
            // Make sure each rare kind exists at least once.
            _ if n == 0 => ("db/dump_emr.sql".to_string(), sql_dump(&mut r, 600)),
            _ if n == 1 => ("db/emr.sqlite".to_string(), sqlite(&mut r, 12)),
            0..400 => {
                let p = patients.choose(&mut r).cloned().unwrap_or_default();
                (ssmix_path(&mut r, &p, 1), hl7(&mut r, &p, "OML-11"))
            }
            400..650 => {
                let compressed = r.random_bool(0.7);
                let size = r.random_range(6_000..40_000);
                let ext = if r.random_bool(0.5) { ".dcm" } else { "" };
                let rel = format!(
                    "pacs/{}/{:08}/{}/IMG{n:05}{ext}",
                    month(&mut r),
                    r.random_range(0..99_999_999),
                    r.random_range(1..6)
                );
                (rel, dicom(&mut r, compressed, size))
            }
            650..750 => {
                let scanned = r.random_bool(0.7);
                let size = r.random_range(3_000..40_000);
                (
                    format!("scans/{}/scan_{n:05}.pdf", month(&mut r)),
                    pdf(&mut r, scanned, size),
                )
            }
            750..810 => {
                let size = r.random_range(5_000..50_000);
                (
                    format!(
                        "photos/{}/wound_{n:05}.jpg",
                        DEPTS.choose(&mut r).copied().unwrap_or("geka")
                    ),
                    jpeg(&mut r, size),
                )
            }
            810..840 => {
                let size = r.random_range(2_000..20_000);
                (
                    format!(
                        "photos/{}/chart_{n:05}.png",
                        DEPTS.choose(&mut r).copied().unwrap_or("geka")
                    ),
                    png(&mut r, size),
                )
            }
            840..900 => {
                let paras = r.random_range(5..80);
                (
                    format!(
                        "docs/{}/letter_{n:05}.docx",
                        DEPTS.choose(&mut r).copied().unwrap_or("naika")
                    ),
                    docx(&mut r, paras)?,
                )
            }
            900..950 => {
                let rows = r.random_range(20..400);
                (format!("reports/lab/lab_{n:05}.csv"), csv(&mut r, rows))
            }
            950..995 => {
                let lines = r.random_range(5..120);
                (
                    format!(
                        "notes/{}/note_{n:05}.txt",
                        DEPTS.choose(&mut r).copied().unwrap_or("naika")
                    ),
                    note(&mut r, lines),
                )
            }
            _ => {
                if r.random_bool(0.5) {
                    let rows = r.random_range(200..1500);
                    (format!("db/dump_{n:05}.sql"), sql_dump(&mut r, rows))
                } else {
                    let pages = r.random_range(4..40);
                    (format!("db/app_{n:05}.sqlite"), sqlite(&mut r, pages))
                }
            }
        };
        let path = dir.join(rel);
        write(&path, &bytes)?;
        out.push(path);
    }
    Ok(out)
}

fn files_under(dir: &Path, sub: &str) -> io::Result<Vec<PathBuf>> {
    let d = dir.join(sub);
    if d.is_dir() {
        list_files(&d)
    } else {
        Ok(Vec::new())
    }
}

/// A clinic day: new HL7 messages (2% of existing ones, ≥ 20), corrected messages (a segment
/// added in place), superseded messages renamed `_1` → `_2`, a new DICOM study, new scanned
/// PDFs and appended notes.
pub fn clinic_day(dir: &Path, seed: u64) -> io::Result<()> {
    let mut r = rng(seed, 2);
    let mut hl7s = files_under(dir, "ssmix2")?;
    for _ in 0..(hl7s.len() / 50).max(20) {
        let p = pid(&mut r);
        write(
            &dir.join(ssmix_path(&mut r, &p, 1)),
            &hl7(&mut r, &p, "OMP-01"),
        )?;
    }
    hl7s.shuffle(&mut r);
    let k = (hl7s.len() / 100).max(2);
    for (i, path) in hl7s.iter().take(2 * k).enumerate() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(base) = name.strip_suffix("_1") else {
            continue;
        };
        if i % 2 == 0 {
            let mut bytes = std::fs::read(path)?;
            bytes.extend_from_slice(
                format!("NTE|1||corrected {}\r", r.random_range(0..999)).as_bytes(),
            );
            std::fs::write(path, bytes)?;
        } else {
            std::fs::rename(path, path.with_file_name(format!("{base}_2")))?;
        }
    }
    let study = format!("pacs/2025-01/{:08}", r.random_range(0..99_999_999));
    for i in 0..r.random_range(20..50) {
        let size = r.random_range(6_000..30_000);
        write(
            &dir.join(format!("{study}/1/IMG{i:05}.dcm")),
            &dicom(&mut r, true, size),
        )?;
    }
    for i in 0..10 {
        let size = r.random_range(3_000..30_000);
        write(
            &dir.join(format!("scans/2025-01/day_{i:03}.pdf")),
            &pdf(&mut r, true, size),
        )?;
    }
    for path in files_under(dir, "notes")?.choose_multiple(&mut r, 5) {
        let mut bytes = std::fs::read(path)?;
        bytes.extend_from_slice(&note(&mut r, 3));
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// PACS ingest: 1,500 new compressed DICOM images (4–12 KiB) in new studies.
pub fn pacs_ingest(dir: &Path, seed: u64) -> io::Result<()> {
    let mut r = rng(seed, 3);
    for i in 0..1500 {
        let size = r.random_range(4_000..12_000);
        let rel = format!(
            "pacs/ingest/{:04}/{}/IMG{i:05}",
            i / 40,
            r.random_range(1..4)
        );
        write(&dir.join(rel), &dicom(&mut r, true, size))?;
    }
    Ok(())
}

/// Monthly archive: the oldest scan months are zipped into `archive/scans_<month>.zip` and their
/// folders deleted.
pub fn monthly_archive(dir: &Path, seed: u64) -> io::Result<()> {
    let _ = seed;
    let mut months: Vec<PathBuf> = std::fs::read_dir(dir.join("scans"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    months.sort();
    for m in months.iter().take(3) {
        let name = m
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("month")
            .to_owned();
        let mut parts = Vec::new();
        for f in list_files(m)? {
            let rel = f
                .strip_prefix(m)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            parts.push((rel, std::fs::read(&f)?));
        }
        write(
            &dir.join(format!("archive/scans_{name}.zip")),
            &zip_parts(parts)?,
        )?;
        std::fs::remove_dir_all(m)?;
    }
    Ok(())
}

/// A batch of new scans: 200 scanned PDFs and 50 JPEG photos.
pub fn new_scans(dir: &Path, seed: u64) -> io::Result<()> {
    let mut r = rng(seed, 4);
    for i in 0..200 {
        let size = r.random_range(3_000..40_000);
        write(
            &dir.join(format!("scans/2025-02/batch_{i:04}.pdf")),
            &pdf(&mut r, true, size),
        )?;
    }
    for i in 0..50 {
        let size = r.random_range(5_000..40_000);
        write(
            &dir.join(format!("photos/new/img_{i:04}.jpg")),
            &jpeg(&mut r, size),
        )?;
    }
    Ok(())
}

/// Folder reorganisation: all docx move to `docs/by_year/2024/<dept>/` (same names), and half of
/// the photos move to `photos/by_patient/<id>/` under new names (same extension).
pub fn reorganise(dir: &Path, seed: u64) -> io::Result<()> {
    let mut r = rng(seed, 5);
    for f in files_under(dir, "docs")? {
        let dept = f
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("misc")
            .to_owned();
        let name = f.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let to = dir.join("docs/by_year/2024").join(dept).join(name);
        std::fs::create_dir_all(to.parent().unwrap_or(dir))?;
        std::fs::rename(&f, &to)?;
    }
    for f in files_under(dir, "photos")? {
        if r.random_bool(0.5) {
            continue;
        }
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x.jpg")
            .to_owned();
        let to = dir.join(format!(
            "photos/by_patient/{}/{}_{name}",
            pid(&mut r),
            r.random_range(2020..2025)
        ));
        std::fs::create_dir_all(to.parent().unwrap_or(dir))?;
        std::fs::rename(&f, &to)?;
    }
    Ok(())
}

/// A database dump rewritten in full: every SQL dump rewritten with 5% of rows changed and 3%
/// added, and every SQLite file with a quarter of its pages rewritten.
pub fn db_dump_rewrite(dir: &Path, seed: u64) -> io::Result<()> {
    let mut r = rng(seed, 6);
    for f in files_under(dir, "db")? {
        let bytes = std::fs::read(&f)?;
        if f.extension().is_some_and(|e| e == "sql") {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let commit = lines.pop().unwrap_or_default();
            let n = lines.len() as u64;
            for (i, l) in lines.iter_mut().enumerate() {
                if l.starts_with("INSERT") && r.random_bool(0.05) {
                    *l = sql_row(&mut r, i as u64).trim_end().to_owned();
                }
            }
            for id in n..n + n * 3 / 100 + 1 {
                lines.push(sql_row(&mut r, id).trim_end().to_owned());
            }
            lines.push(commit);
            std::fs::write(&f, lines.join("\n") + "\n")?;
        } else {
            let mut v = bytes;
            let pages = v.len() / 4096;
            let fresh = sqlite(&mut r, pages as u32);
            for p in 1..pages {
                if r.random_bool(0.25) {
                    v[p * 4096..(p + 1) * 4096].copy_from_slice(&fresh[p * 4096..(p + 1) * 4096]);
                }
            }
            let counter = u32::from_be_bytes([v[24], v[25], v[26], v[27]]).wrapping_add(1);
            v[24..28].copy_from_slice(&counter.to_be_bytes());
            std::fs::write(&f, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_is_deterministic_and_has_every_kind() -> io::Result<()> {
        let a = tempfile::tempdir()?;
        let b = tempfile::tempdir()?;
        let fa = hospital_tree(a.path(), 300, 7)?;
        let fb = hospital_tree(b.path(), 300, 7)?;
        assert_eq!(fa.len(), 300);
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(std::fs::read(x)?, std::fs::read(y)?);
        }
        for sub in [
            "ssmix2", "pacs", "scans", "photos", "docs", "reports", "notes", "db",
        ] {
            assert!(a.path().join(sub).is_dir(), "{sub} missing");
        }
        let hl7 = files_under(a.path(), "ssmix2")?;
        let bytes = std::fs::read(&hl7[0])?;
        assert!(bytes.starts_with(b"MSH|") && bytes.iter().all(|b| *b < 0x80));
        Ok(())
    }
}
