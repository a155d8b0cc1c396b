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

/// Decodes SS-MIX2 bytes. SS-MIX2 mandates ISO-2022-JP (JIS X 0208 via escape sequences);
/// pure 7-bit ASCII decodes identically. Undecodable bytes become U+FFFD instead of failing.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let (text, _had_errors) = encoding_rs::ISO_2022_JP.decode_without_bom_handling(bytes);
    text.into_owned()
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
        assert_eq!(decode(&bytes), "PID|||1||山田^太郎~ヤマダ^タロウ");
    }

    #[test]
    fn lone_escape_is_kept() {
        assert_eq!(unescape("a\\b", &seps()), "a\\b");
        assert_eq!(unescape("a\\X41\\b", &seps()), "ab");
    }
}
