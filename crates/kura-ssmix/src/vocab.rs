//! Words for codes: HL7 v2.5 tables and the JAMI dosage timing codes, used when a message
//! carries a code without its text component.

/// HL7 table 0127 (allergen type), with the Japanese words SS-MIX2 senders use.
///
/// ```
/// assert_eq!(kura_ssmix::allergen_type_words("LA"), "花粉アレルギー");
/// assert_eq!(kura_ssmix::allergen_type_words("ZZ"), "ZZ");
/// ```
pub fn allergen_type_words(code: &str) -> &str {
    match code {
        "DA" => "薬剤アレルギー",
        "FA" => "食物アレルギー",
        "EA" => "環境アレルギー",
        "LA" => "花粉アレルギー",
        "AA" => "動物アレルギー",
        "PA" => "植物アレルギー",
        "MA" => "その他のアレルギー",
        "MC" => "その他の禁忌",
        "DT" => "薬剤不耐性",
        "FT" => "食物不耐性",
        "MT" => "その他の不耐性",
        "DX" => "薬剤副作用",
        other => other,
    }
}

/// HL7 table 0128 (allergy severity).
///
/// ```
/// assert_eq!(kura_ssmix::severity_words("SV"), "重度");
/// ```
pub fn severity_words(code: &str) -> &str {
    match code {
        "SV" => "重度",
        "MO" => "中等度",
        "MI" => "軽度",
        "U" => "不明",
        other => other,
    }
}

/// HL7 table 0078 (abnormal flags) in words, for the flags a clinician must notice.
///
/// ```
/// assert_eq!(kura_ssmix::abnormal_flag_words("H"), "高");
/// assert_eq!(kura_ssmix::abnormal_flag_words("N"), "");
/// ```
pub fn abnormal_flag_words(code: &str) -> &str {
    match code {
        "H" => "高",
        "HH" => "異常高値",
        "L" => "低",
        "LL" => "異常低値",
        ">" => "上限超",
        "<" => "下限未満",
        "A" => "異常",
        "AA" => "重度異常",
        "POS" => "陽性",
        "NEG" => "陰性",
        _ => "",
    }
}

/// The JAMI standard dosage timing codes (JAMI標準用法コード, 16 digits) whose meaning we have
/// verified against the SS-MIX2 storage specification's own examples. Any other code is
/// reported as a code rather than guessed at.
const JAMI_TIMING: &[(&str, &str)] = &[
    ("1013044400000000", "内服・経口・１日３回朝昼夕食後"),
    ("1012040400000000", "内服・経口・１日２回朝夕食後"),
];

/// A TQ1-3 repeat pattern in words: a verified JAMI code, an HL7 table 0335 code (`TID`,
/// `Q8H`, …), else the code marked as such so it is not mistaken for an instruction.
///
/// ```
/// use kura_ssmix::timing_words;
/// assert_eq!(timing_words("1013044400000000"), "内服・経口・１日３回朝昼夕食後");
/// assert_eq!(timing_words("TID"), "1日3回");
/// assert_eq!(timing_words("Q8H"), "8時間ごと");
/// assert_eq!(timing_words("1099999900000000"), "用法コード 1099999900000000");
/// ```
pub fn timing_words(code: &str) -> String {
    if let Some((_, words)) = JAMI_TIMING.iter().find(|(c, _)| *c == code) {
        return (*words).to_string();
    }
    let fixed = match code {
        "QD" => Some("1日1回"),
        "BID" => Some("1日2回"),
        "TID" => Some("1日3回"),
        "QID" => Some("1日4回"),
        "QOD" => Some("隔日"),
        "QAM" => Some("毎朝"),
        "QPM" => Some("毎夕"),
        "QHS" | "HS" => Some("就寝前"),
        "PRN" => Some("頓用"),
        "ONCE" => Some("1回"),
        "C" => Some("持続"),
        _ => None,
    };
    if let Some(w) = fixed {
        return w.to_string();
    }
    // Q<n>H / Q<n>D / Q<n>W / Q<n>M from table 0335.
    if let Some(rest) = code.strip_prefix('Q')
        && rest.len() >= 2
    {
        let (n, unit) = rest.split_at(rest.len() - 1);
        if n.bytes().all(|b| b.is_ascii_digit()) {
            let unit = match unit {
                "H" => Some("時間"),
                "D" => Some("日"),
                "W" => Some("週"),
                "M" => Some("分"),
                _ => None,
            };
            if let Some(u) = unit {
                return format!("{n}{u}ごと");
            }
        }
    }
    if code.is_empty() {
        String::new()
    } else {
        format!("用法コード {code}")
    }
}

/// ISO+ / HL7 duration units as used in TQ1-6 (`5^d` → `5日`).
pub(crate) fn duration_unit_words(unit: &str) -> &str {
    match unit {
        "d" | "D" => "日",
        "wk" | "W" => "週",
        "mo" => "か月",
        "h" | "H" => "時間",
        "min" => "分",
        other => other,
    }
}
