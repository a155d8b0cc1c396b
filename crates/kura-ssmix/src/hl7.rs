//! HL7 v2.5 text: ISO-2022-JP decoding and the segment/field/repetition/component splitter.
//!
//! Why not an HL7 crate: `rust-hl7` calls itself experimental and splits segments on CR only;
//! `hl7-parser` is nom-based and strict about newlines unless asked. SS-MIX2 files need
//! CR, LF and CRLF alike, must tolerate trailing bytes and garbage lines, and we only read about
//! ten fields, so a borrowed splitter of ~100 lines that can never panic is simpler to trust.

/// The encoding characters from MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Separators {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

/// A decoded message split into segments; fields are split on demand.
#[derive(Debug)]
pub(crate) struct Message<'a> {
    pub segments: Vec<Segment<'a>>,
}

/// One segment: its fields, where `fields[0]` is the segment name.
///
/// For MSH, `field(1)` is the field separator and `field(2)` the encoding characters, as in the
/// standard's numbering.
#[derive(Debug)]
pub(crate) struct Segment<'a> {
    pub name: &'a str,
    fields: Vec<&'a str>,
    seps: Separators,
}

impl<'a> Segment<'a> {
    /// Raw field `n` (1-based, HL7 numbering), `""` when absent.
    pub fn field(&self, n: usize) -> &'a str {
        self.fields.get(n).copied().unwrap_or("")
    }

    /// Repetitions of field `n`.
    pub fn repetitions(&self, n: usize) -> impl Iterator<Item = &'a str> + use<'a> {
        let f = self.field(n);
        let rep = self.seps.repetition;
        f.split(rep).filter(|r| !r.is_empty())
    }

    /// Unescaped component `c` (1-based) of the first repetition of field `n`.
    pub fn comp(&self, n: usize, c: usize) -> String {
        let first = self
            .field(n)
            .split(self.seps.repetition)
            .next()
            .unwrap_or("");
        component(first, c, &self.seps)
    }

    /// Unescaped subcomponent `sc` of component `c` of the first repetition of field `n`
    /// (all 1-based), e.g. the text of a CWE inside TQ1-3's RPT: `code&text&system`.
    pub fn sub(&self, n: usize, c: usize, sc: usize) -> String {
        let first = self
            .field(n)
            .split(self.seps.repetition)
            .next()
            .unwrap_or("");
        let comp = first
            .split(self.seps.component)
            .nth(c.saturating_sub(1))
            .unwrap_or("");
        let sub = comp
            .split(self.seps.subcomponent)
            .nth(sc.saturating_sub(1))
            .unwrap_or("");
        unescape(sub, &self.seps)
    }

    /// Unescaped whole first repetition of field `n` (components kept as is).
    pub fn text(&self, n: usize) -> String {
        let first = self
            .field(n)
            .split(self.seps.repetition)
            .next()
            .unwrap_or("");
        unescape(first, &self.seps)
    }

    pub fn seps(&self) -> &Separators {
        &self.seps
    }
}

/// Unescaped component `c` (1-based) of one repetition, first subcomponent only.
pub(crate) fn component(rep: &str, c: usize, seps: &Separators) -> String {
    let comp = rep
        .split(seps.component)
        .nth(c.saturating_sub(1))
        .unwrap_or("");
    let sub = comp.split(seps.subcomponent).next().unwrap_or("");
    unescape(sub, seps)
}

/// Resolves the HL7 escape sequences `\F\ \S\ \T\ \R\ \E\` and `\.br\`; other sequences (hex,
/// formatting) are dropped, since the viewer shows plain text.
pub(crate) fn unescape(s: &str, seps: &Separators) -> String {
    let esc = seps.escape;
    if !s.contains(esc) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(esc) {
        out.push_str(&rest[..i]);
        let after = &rest[i + esc.len_utf8()..];
        match after.find(esc) {
            Some(j) => {
                match &after[..j] {
                    "F" => out.push(seps.field),
                    "S" => out.push(seps.component),
                    "T" => out.push(seps.subcomponent),
                    "R" => out.push(seps.repetition),
                    "E" => out.push(esc),
                    ".br" => out.push('\n'),
                    _ => {}
                }
                rest = &after[j + esc.len_utf8()..];
            }
            None => {
                // A lone escape character: keep it literally.
                out.push(esc);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A decoded message text and how it was decoded.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub text: String,
    /// The character set used, e.g. `ISO-2022-JP`.
    pub charset: &'static str,
    /// What MSH-18 declared, as written (empty when nothing was declared).
    pub declared: String,
    /// Some bytes were undecodable in every candidate and became U+FFFD.
    pub lossy: bool,
}

impl Decoded {
    /// Whether the text was decoded in the character set MSH-18 declared.
    pub fn declared_matches(&self) -> bool {
        !self.declared.is_empty() && declared_charset_named(&self.declared).name() == self.charset
    }
}

/// The encoding a declaration name found by [`declared_charset`] stands for.
fn declared_charset_named(name: &str) -> &'static encoding_rs::Encoding {
    declared_charset(name.as_bytes()).0
}

/// The character set MSH-18 declares. SS-MIX2 mandates `~ISO IR87` (JIS X 0208 through ISO 2022
/// escapes, with ASCII as ISO IR6), but some senders write Shift_JIS or UTF-8 and say so. The
/// MSH line is read as bytes: in Shift_JIS a trail byte can equal `|`, so the declaration is
/// found by its name anywhere in the MSH line, not by counting fields.
fn declared_charset(bytes: &[u8]) -> (&'static encoding_rs::Encoding, String) {
    let line_end = bytes
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(bytes.len());
    let line = String::from_utf8_lossy(&bytes[..line_end]).to_ascii_uppercase();
    const UTF8: &[&str] = &["UNICODE UTF-8", "UTF-8", "UTF8", "ISO IR192"];
    const SJIS: &[&str] = &[
        "SHIFT_JIS",
        "SHIFT-JIS",
        "SJIS",
        "MS932",
        "CP932",
        "WINDOWS-31J",
    ];
    const JIS: &[&str] = &["ISO IR87", "ISO IR159", "ISO IR6", "ISO 2022"];
    let found = |names: &[&str]| {
        names
            .iter()
            .find(|n| line.contains(*n))
            .map(|n| n.to_string())
    };
    if let Some(n) = found(UTF8) {
        (encoding_rs::UTF_8, n)
    } else if let Some(n) = found(SJIS) {
        (encoding_rs::SHIFT_JIS, n)
    } else if let Some(n) = found(JIS) {
        (encoding_rs::ISO_2022_JP, n)
    } else {
        (encoding_rs::ISO_2022_JP, String::new())
    }
}

/// Decodes SS-MIX2 bytes in the character set MSH-18 declares (ISO-2022-JP when it declares
/// none; pure 7-bit ASCII decodes identically in all). When that fails, UTF-8 then Shift_JIS
/// are tried, since a mislabelled file is still a patient's record; only when every candidate
/// fails are undecodable bytes replaced (U+FFFD) and `lossy` set.
pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (declared, declared_name) = declared_charset(bytes);
    let candidates = [declared, encoding_rs::UTF_8, encoding_rs::SHIFT_JIS];
    for enc in candidates {
        if let Some(text) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
            return Decoded {
                text: text.into_owned(),
                charset: enc.name(),
                declared: declared_name,
                lossy: false,
            };
        }
    }
    let (text, _) = declared.decode_without_bom_handling(bytes);
    Decoded {
        text: text.into_owned(),
        charset: declared.name(),
        declared: declared_name,
        lossy: true,
    }
}

/// Splits decoded text into segments with the separators declared in MSH.
///
/// Leading MLLP/BOM/whitespace bytes are skipped; lines that do not look like a segment
/// (three upper-case alphanumerics then the field separator) are ignored, so trailing garbage
/// after the last segment does not fail the message.
pub(crate) fn parse(text: &str) -> Result<Message<'_>, String> {
    let text = text.trim_start_matches(['\u{feff}', '\u{0b}', '\r', '\n', ' ', '\t']);
    if !text.starts_with("MSH") {
        return Err("does not start with an MSH segment".into());
    }
    let mut enc = text[3..].chars();
    let (Some(field), Some(component), Some(repetition), Some(escape), Some(subcomponent)) =
        (enc.next(), enc.next(), enc.next(), enc.next(), enc.next())
    else {
        return Err("MSH is too short for its encoding characters".into());
    };
    let seps = Separators {
        field,
        component,
        repetition,
        escape,
        subcomponent,
    };
    let all = [field, component, repetition, escape, subcomponent];
    let distinct = all
        .iter()
        .enumerate()
        .all(|(i, c)| !all[..i].contains(c) && !c.is_alphanumeric() && !c.is_whitespace());
    if !distinct {
        return Err("MSH encoding characters are not five distinct delimiters".into());
    }

    let mut segments = Vec::new();
    for line in text.split(['\r', '\n']) {
        let mut name_end = line.char_indices().skip(3);
        let name_ok = line.len() >= 3
            && line.is_char_boundary(3)
            && line[..3]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !name_ok {
            continue;
        }
        match name_end.next() {
            Some((_, c)) if c == field => {}
            None => {}
            _ => continue,
        }
        let name = &line[..3];
        let fields: Vec<&str> = if name == "MSH" && line.len() > 3 {
            // MSH-1 is the field separator itself, so the numbering is shifted by one.
            let rest = &line[3 + field.len_utf8()..];
            let mut v = vec![name, &line[3..3 + field.len_utf8()]];
            v.extend(rest.split(field));
            v
        } else {
            line.split(field).collect()
        };
        segments.push(Segment { name, fields, seps });
    }
    let msh = segments.first().filter(|s| s.name == "MSH");
    if msh.is_none_or(|m| m.field(9).is_empty()) {
        return Err("MSH-9 message type is missing".into());
    }
    Ok(Message { segments })
}

impl<'a> Message<'a> {
    /// MSH-9 as `(code, trigger)`, e.g. `("ADT", "A60")`.
    pub fn message_type(&self) -> (String, String) {
        match self.segments.first() {
            Some(msh) => (msh.comp(9, 1), msh.comp(9, 2)),
            None => (String::new(), String::new()),
        }
    }

    /// MSH-7, the message date/time.
    pub fn timestamp(&self) -> String {
        self.segments
            .first()
            .map(|m| m.comp(7, 1))
            .unwrap_or_default()
    }

    pub fn first(&self, name: &str) -> Option<&Segment<'a>> {
        self.segments.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seps() -> Separators {
        Separators {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }

    #[test]
    fn splits_cr_lf_and_crlf_alike() {
        for nl in ["\r", "\n", "\r\n"] {
            let text = format!(
                "MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5{nl}PID|||123^^^X||山田^太郎{nl}"
            );
            let m = parse(&text).unwrap();
            assert_eq!(m.segments.len(), 2, "newline {nl:?}");
            assert_eq!(m.segments[1].comp(5, 1), "山田");
            assert_eq!(m.segments[1].comp(3, 1), "123");
        }
    }

    #[test]
    fn msh_numbering_matches_the_standard() {
        let m =
            parse("MSH|^~\\&|SEND|FAC|RCV|RF|20260102030405||OMP^O09^OMP_O09|X1|P|2.5").unwrap();
        let msh = &m.segments[0];
        assert_eq!(msh.field(1), "|");
        assert_eq!(msh.field(2), "^~\\&");
        assert_eq!(msh.field(3), "SEND");
        assert_eq!(m.message_type(), ("OMP".to_string(), "O09".to_string()));
        assert_eq!(m.timestamp(), "20260102030405");
    }

    #[test]
    fn custom_separators_are_honoured() {
        let m =
            parse("MSH#$*!%#A#B#C#D#2026##ORU$R01#1#P#2.5\rOBX#1#NM#01$Hb$L##13.2#g/dL\r").unwrap();
        assert_eq!(m.message_type().0, "ORU");
        let obx = &m.segments[1];
        assert_eq!(obx.comp(3, 2), "Hb");
        assert_eq!(obx.field(5), "13.2");
    }

    #[test]
    fn repetitions_and_escapes() {
        let m = parse("MSH|^~\\&|||||||ADT^A08\rPID|||1||A^B~C^D^^^^^^P|\rNTE|1||x\\F\\y\\S\\z\\E\\\\T\\w\\R\\").unwrap();
        let reps: Vec<_> = m.segments[1].repetitions(5).collect();
        assert_eq!(reps.len(), 2);
        assert_eq!(component(reps[1], 8, &seps()), "P");
        assert_eq!(m.segments[2].text(3), "x|y^z\\&w~");
    }

    #[test]
    fn trailing_garbage_is_ignored() {
        let text = "MSH|^~\\&|||||||ADT^A08\rPID|||1\r\u{1c}\r\0\0garbage line\rzz";
        let m = parse(text).unwrap();
        assert_eq!(m.segments.len(), 2);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(parse("").is_err());
        assert!(parse("PID|||1").is_err());
        assert!(parse("MSH|^~").is_err());
        assert!(parse("MSH|||||").is_err());
        assert!(parse("MSH|^~\\&|a|b").is_err(), "no MSH-9");
    }

    #[test]
    fn iso_2022_jp_round_trip() {
        let (bytes, _, bad) = encoding_rs::ISO_2022_JP.encode("PID|||1||山田^太郎~ヤマダ^タロウ");
        assert!(!bad);
        assert!(bytes.iter().all(|b| *b < 0x80), "ISO-2022-JP is 7-bit");
        let d = decode(&bytes);
        assert_eq!(d.text, "PID|||1||山田^太郎~ヤマダ^タロウ");
        assert_eq!(d.charset, "ISO-2022-JP");
        assert!(!d.lossy);
    }

    #[test]
    fn declared_shift_jis_and_utf8_are_honoured() {
        // 表 is 0x95 0x5C in Shift_JIS: the trail byte is a backslash, HL7's escape character.
        let text = "MSH|^~\\&|||||20260101||ADT^A08|1|P|2.5||||||SJIS\rPID|||1||表^太郎\r";
        let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!bad);
        let d = decode(&bytes);
        assert_eq!(
            (d.charset, d.declared.as_str(), d.lossy),
            ("Shift_JIS", "SJIS", false)
        );
        let m = parse(&d.text).unwrap();
        assert_eq!(m.segments[1].comp(5, 1), "表");

        let utf8 = "MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||UNICODE UTF-8\rPID|||1||山田\r";
        let d = decode(utf8.as_bytes());
        assert_eq!((d.charset, d.lossy), ("UTF-8", false));
        assert!(d.text.contains("山田"));
    }

    #[test]
    fn undeclared_non_jis_bytes_are_tried_as_utf8_then_shift_jis() {
        let text = "MSH|^~\\&|||||||ADT^A08|1|P|2.5||||||~ISO IR87\rPID|||1||佐藤\r";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let d = decode(&sjis);
        assert_eq!((d.charset, d.lossy), ("Shift_JIS", false));
        assert!(d.text.contains("佐藤"));
        let d = decode(text.as_bytes());
        assert_eq!((d.charset, d.lossy), ("UTF-8", false));
        let d = decode(b"MSH|^~\\&|||||||ADT^A08\rPID|||1||\xff\xff\xff\r");
        assert!(d.lossy);
    }

    #[test]
    fn lone_escape_is_kept() {
        assert_eq!(unescape("a\\b", &seps()), "a\\b");
        assert_eq!(unescape("a\\X41\\b", &seps()), "ab");
    }
}
