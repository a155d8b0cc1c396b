//! Seeded SS-MIX2 standard storage generator with ground truth, for kura-ssmix and the viewer.
//!
//! Each patient gets ADT-00 (demographics), ADT-51 (ADT^A60 allergies), PPR-01 (PPR^ZD1
//! diagnoses), OMP-01 (OMP^O09 prescriptions, plus a superseded `_2` and a deleted `_0`
//! version whose drugs must never be shown) and OML-11 (OUL^R22 lab results with the infection
//! panel) messages, ISO-2022-JP encoded, with CR, LF or CRLF segment ends. [`generate`] adds one
//! malformed file. The truth lists only what a correct reader shows. [`spec_storage`] instead
//! files the SS-MIX2 specification's own example messages, as a real storage would hold them.

use std::io;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One generated file: its path relative to the storage root (with `/`) and its bytes.
#[derive(Debug, Clone)]
pub struct SsmixFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What a correct reader must show for one patient (current data only).
#[derive(Debug, Clone, Default)]
pub struct PatientTruth {
    pub id: String,
    /// Family and given name joined by U+3000, as PID-5 repetition `I`.
    pub name_kanji: String,
    /// Full-width katakana, joined by U+3000, as PID-5 repetition `P`.
    pub name_kana: String,
    /// The kana name in hiragana without the space, for search tests.
    pub name_hiragana: String,
    pub birth_date: String,
    pub sex: String,
    pub diagnoses: Vec<String>,
    /// Allergen names (types DA, FA, EA).
    pub allergies: Vec<String>,
    /// Drug allergies (DA) and contraindications (MC).
    pub contraindications: Vec<String>,
    pub prescriptions: Vec<String>,
    /// `(test name, value)`.
    pub labs: Vec<(String, String)>,
    /// Infection test names and infection diagnosis names.
    pub infections: Vec<String>,
    /// Drug names that exist only in superseded or deleted files: must never be shown.
    pub hidden: Vec<String>,
}

/// Ground truth for a generated tree.
#[derive(Debug, Clone, Default)]
pub struct SsmixTruth {
    pub patients: Vec<PatientTruth>,
    /// Paths (relative) of files that are deliberately malformed.
    pub malformed: Vec<String>,
    /// Files with flag `1`, excluding the malformed one.
    pub current_files: usize,
    /// Files with flag `2` or `0`.
    pub not_current_files: usize,
}

const FAMILY: &[(&str, &str)] = &[
    ("山田", "ヤマダ"),
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山本", "ヤマモト"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("斎藤", "サイトウ"),
];
const GIVEN: &[(&str, &str, &str)] = &[
    ("太郎", "タロウ", "M"),
    ("花子", "ハナコ", "F"),
    ("健一", "ケンイチ", "M"),
    ("美咲", "ミサキ", "F"),
    ("翔太", "ショウタ", "M"),
    ("陽子", "ヨウコ", "F"),
    ("大輔", "ダイスケ", "M"),
    ("由美", "ユミ", "F"),
    ("誠", "マコト", "M"),
    ("恵", "メグミ", "F"),
];
/// (HL7 table 0127 type, code, name)
const ALLERGENS: &[(&str, &str, &str)] = &[
    ("DA", "1100001", "ペニシリン"),
    ("DA", "1100002", "セフェム系抗生物質"),
    ("DA", "1100003", "ヨード造影剤"),
    ("FA", "2100001", "卵"),
    ("FA", "2100002", "そば"),
    ("EA", "3100001", "スギ花粉"),
    ("MC", "4100001", "ＮＳＡＩＤｓ（アスピリン喘息）"),
];
/// (code, name, is an infection)
const DIAGNOSES: &[(&str, &str, bool)] = &[
    ("I109", "本態性高血圧症", false),
    ("E119", "２型糖尿病", false),
    ("B182", "慢性Ｃ型肝炎", false),
    ("K297", "胃炎", false),
    ("M545", "腰痛症", false),
    ("A162", "肺結核", true),
    ("E785", "脂質異常症", false),
];
/// (HOT code, name, unit)
const DRUGS: &[(&str, &str, &str)] = &[
    ("620004475", "ロキソニン錠60mg", "錠"),
    ("610432014", "ムコスタ錠100mg", "錠"),
    ("620098801", "アムロジピン錠5mg", "錠"),
    ("622079301", "メトホルミン塩酸塩錠250mg", "錠"),
    ("610406079", "ワーファリン錠1mg", "錠"),
    ("620007375", "カロナール錠200", "錠"),
    ("621950301", "ランソプラゾールOD錠15mg", "錠"),
];
const TIMINGS: &[&str] = &[
    "１日３回朝昼夕食後",
    "１日１回朝食後",
    "１日２回朝夕食後",
    "疼痛時",
];
/// (JLAC10-like code, name, type, normal value, unit, range)
const LABS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("3B035000002327201", "AST", "NM", "24", "U/L", "13-30"),
    ("3B045000002327201", "ALT", "NM", "18", "U/L", "7-23"),
    ("2A990000001930952", "Hb", "NM", "13.8", "g/dL", "11.6-14.8"),
    (
        "3C015000002327101",
        "CRE",
        "NM",
        "0.72",
        "mg/dL",
        "0.46-0.79",
    ),
];
/// Infection panel: (code, name, positive value).
const INFECTION_LABS: &[(&str, &str, &str)] = &[
    ("5F016141002305201", "HBs抗原", "陽性"),
    ("5F360149002305201", "HCV抗体", "陽性"),
    ("5E071141002305201", "梅毒TPHA", "陽性"),
    ("5F601141002305201", "HIV抗原抗体", "陽性"),
];

/// Generates one patient's files and truth; patient `n` of seed `seed` is always the same.
pub fn generate_patient(seed: u64, n: usize) -> (Vec<SsmixFile>, PatientTruth) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let id = format!("{:010}", 10_000 + n as u64 * 7);
    let (fk, fr) = FAMILY[rng.random_range(0..FAMILY.len())];
    let (gk, gr, sex) = GIVEN[rng.random_range(0..GIVEN.len())];
    let birth = format!(
        "{}{:02}{:02}",
        rng.random_range(1930..2020),
        rng.random_range(1..=12),
        rng.random_range(1..=28)
    );
    let nl = ["\r", "\n", "\r\n"][n % 3];
    let mut t = PatientTruth {
        id: id.clone(),
        name_kanji: format!("{fk}\u{3000}{gk}"),
        name_kana: format!("{fr}\u{3000}{gr}"),
        name_hiragana: to_hiragana(&format!("{fr}{gr}")),
        birth_date: birth.clone(),
        sex: sex.to_string(),
        ..PatientTruth::default()
    };
    let pid = format!("PID|0001||{id}^^^^PI||{fr}^{gr}^^^^^L^P~{fk}^{gk}^^^^^L^I||{birth}|{sex}");
    let mut files = Vec::new();
    let mut order = 0u32;
    let mut file = |date: Option<&str>, ty: &str, flag: u8, segs: Vec<String>, order: &mut u32| {
        *order += 1;
        let d = date.unwrap_or("-");
        let stamp = format!("{}120000{:03}", date.unwrap_or("20260101"), *order % 1000);
        let msh = format!(
            "MSH|^~\\&|HIS|KURAHOSP|SSMIX2|KURAHOSP|{}||{}|{id}{order:05}|P|2.5||||||~ISO IR87||ISO 2022-1994",
            &stamp[..14],
            msg_type(ty)
        );
        let mut text = msh;
        for s in std::iter::once(&pid).chain(&segs) {
            text.push_str(nl);
            text.push_str(s);
        }
        text.push_str(nl);
        let path = format!(
            "{}/{}/{id}/{d}/{ty}/{id}_{d}_{ty}_{order:09}_{stamp}_01_{flag}",
            &id[..3],
            &id[3..6],
            order = *order
        );
        files.push(SsmixFile {
            path,
            bytes: encoding_rs::ISO_2022_JP.encode(&text).0.into_owned(),
        });
    };

    file(None, "ADT-00", 1, vec![], &mut order);

    // Allergies: 0..=2 distinct allergens.
    let mut iams = Vec::new();
    for (k, i) in pick(&mut rng, ALLERGENS.len(), 0, 2)
        .into_iter()
        .enumerate()
    {
        let (ty, code, name) = ALLERGENS[i];
        let day = date(&mut rng);
        if ty == "MC" {
            iams.push(format!(
                "AL1|{}|MC|{code}^{name}^L|MO^中等症|喘息発作|{day}",
                k + 1
            ));
        } else {
            iams.push(format!(
                "IAM|{}|{ty}|{code}^{name}^L|SV^重症|発疹~呼吸困難|A|||||{day}",
                k + 1
            ));
            t.allergies.push(name.to_string());
        }
        if ty == "DA" || ty == "MC" {
            t.contraindications.push(name.to_string());
        }
    }
    if !iams.is_empty() {
        file(Some(&date(&mut rng)), "ADT-51", 1, iams, &mut order);
    }

    // Diagnoses.
    let mut prbs = Vec::new();
    for i in pick(&mut rng, DIAGNOSES.len(), 1, 3) {
        let (code, name, infection) = DIAGNOSES[i];
        let onset = date(&mut rng);
        prbs.push(format!(
            "PRB|AD|{onset}|{code}^{name}^MDCDX2|{}||||||||||||{onset}",
            prbs.len() + 1
        ));
        t.diagnoses.push(name.to_string());
        if infection || name.contains("Ｃ型肝炎") {
            t.infections.push(name.to_string());
        }
    }
    file(Some(&date(&mut rng)), "PPR-01", 1, prbs, &mut order);

    // Prescriptions: one current order with 1..=2 drugs.
    let day = date(&mut rng);
    let mut rx = vec![
        format!("ORC|NW|{id}RX1|||||||{day}"),
        format!(
            "TQ1|||1013044400000000^{}^JAMISDP01|||{}^日|{day}",
            TIMINGS[rng.random_range(0..TIMINGS.len())],
            rng.random_range(3..=28)
        ),
    ];
    for i in pick(&mut rng, DRUGS.len(), 1, 2) {
        let (code, name, unit) = DRUGS[i];
        rx.push(format!(
            "RXE||{code}^{name}^HOT|{}||TAB^{unit}^MR9P",
            rng.random_range(1..=3)
        ));
        rx.push("RXR|PO^経口^HL70162".to_string());
        t.prescriptions.push(name.to_string());
    }
    let hidden_old = format!("旧処方薬{}号錠", n % 1000);
    let hidden_del = format!("削除済処方薬{}号錠", n % 1000);
    let old_rx = vec![
        format!("ORC|NW|{id}RX1|||||||{day}"),
        format!("RXE||999001^{hidden_old}^HOT|1||TAB^錠^MR9P"),
    ];
    let del_rx = vec![
        format!("ORC|NW|{id}RX2|||||||{day}"),
        format!("RXE||999002^{hidden_del}^HOT|1||TAB^錠^MR9P"),
    ];
    t.hidden = vec![hidden_old, hidden_del];
    file(Some(&day), "OMP-01", 2, old_rx, &mut order);
    file(Some(&day), "OMP-01", 1, rx, &mut order);
    file(Some(&day), "OMP-01", 0, del_rx, &mut order);

    // Lab results with the admission infection panel.
    let day = date(&mut rng);
    let mut obx = vec![
        format!("SPM|1|||^血清|||||||||||||{day}0800"),
        format!("OBR|1|{id}LAB1|||||{day}0900"),
    ];
    for (k, (code, name, ty, normal, unit, range)) in LABS.iter().enumerate() {
        let high = rng.random_bool(0.2);
        let value = if high {
            format!("{normal}9")
        } else {
            normal.to_string()
        };
        let flag = if high { "H" } else { "N" };
        obx.push(format!(
            "OBX|{}|{ty}|{code}^{name}^JC10||{value}|{unit}^{unit}^ISO+|{range}|{flag}|||F",
            k + 1
        ));
        t.labs.push((name.to_string(), value));
    }
    for (k, (code, name, pos)) in INFECTION_LABS.iter().enumerate() {
        let value = if rng.random_bool(0.1) { *pos } else { "陰性" };
        let flag = if value == "陰性" { "N" } else { "A" };
        obx.push(format!(
            "OBX|{}|ST|{code}^{name}^JC10||{value}||陰性|{flag}|||F",
            k + 10
        ));
        t.labs.push((name.to_string(), value.to_string()));
        t.infections.push(name.to_string());
    }
    file(Some(&day), "OML-11", 1, obx, &mut order);

    (files, t)
}

/// Generates `patients` patients plus one malformed file (a current-flag OMP-01 of patient 0
/// holding bytes that are not HL7).
pub fn generate(seed: u64, patients: usize) -> (Vec<SsmixFile>, SsmixTruth) {
    let mut all = Vec::new();
    let mut truth = SsmixTruth::default();
    for n in 0..patients {
        let (files, t) = generate_patient(seed, n);
        for f in &files {
            if f.path.ends_with("_1") {
                truth.current_files += 1;
            } else {
                truth.not_current_files += 1;
            }
        }
        all.extend(files);
        truth.patients.push(t);
    }
    if let Some(p) = truth.patients.first() {
        let id = &p.id;
        let path = format!(
            "{}/{}/{id}/20260102/OMP-01/{id}_20260102_OMP-01_999999999_20260102120000000_01_1",
            &id[..3],
            &id[3..6]
        );
        all.push(SsmixFile {
            path: path.clone(),
            bytes: b"\x1b$B\x7f\x7f garbage, not an HL7 message\xff\xfe".to_vec(),
        });
        truth.malformed.push(path);
    }
    (all, truth)
}

/// Writes [`generate`]'s tree under `root` (which becomes the SS-MIX2 storage root).
pub fn write_tree(root: &Path, seed: u64, patients: usize) -> io::Result<SsmixTruth> {
    let (files, truth) = generate(seed, patients);
    for f in files {
        let p = root.join(&f.path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, f.bytes)?;
    }
    Ok(truth)
}

/// The SS-MIX2 specification's example messages (see `fixtures/ssmix2-spec/README.md`):
/// `(data type, message text)`, UTF-8 with LF segment ends.
const SPEC_MESSAGES: &[(&str, &str)] = &[
    (
        "ADT-00",
        include_str!("../fixtures/ssmix2-spec/ADT-00_ADT_A08.hl7"),
    ),
    (
        "ADT-51",
        include_str!("../fixtures/ssmix2-spec/ADT-51_ADT_A60.hl7"),
    ),
    (
        "PPR-01",
        include_str!("../fixtures/ssmix2-spec/PPR-01_PPR_ZD1.hl7"),
    ),
    (
        "OMP-01",
        include_str!("../fixtures/ssmix2-spec/OMP-01_RDE_O11.hl7"),
    ),
    (
        "OMP-02",
        include_str!("../fixtures/ssmix2-spec/OMP-02_RDE_O11.hl7"),
    ),
    (
        "OML-11",
        include_str!("../fixtures/ssmix2-spec/OML-11_OUL_R22.hl7"),
    ),
];

/// The patient every spec-example file is filed under (the guideline's ADT-00 patient).
pub const SPEC_PATIENT_ID: &str = "9999013";

/// What a correct reader shows for [`spec_storage`], and the traps in it.
#[derive(Debug, Clone, Default)]
pub struct SpecTruth {
    pub patient_id: String,
    /// Allergens shown under アレルギー: the four IAM of the guideline's ADT^A60, the AL1 of its
    /// ADT^A08, and one from the Shift_JIS file.
    pub allergies: Vec<String>,
    /// Current prescriptions and injection components.
    pub prescriptions: Vec<String>,
    pub diagnoses: Vec<String>,
    pub labs: Vec<String>,
    /// A drug only in a superseded file: never shown.
    pub hidden: Vec<String>,
    /// PID-3 values that differ from [`SPEC_PATIENT_ID`], each shown in a warning.
    pub other_pid3: Vec<String>,
    /// The file filed under a wrong date directory (still shown, with a warning).
    pub misfiled: String,
    /// The Shift_JIS file (declared in MSH-18).
    pub shift_jis: String,
    /// The one file that cannot be read (listed on the patient page).
    pub unreadable: String,
}

/// An SS-MIX2 storage built from the specification's own example messages, as the issue-16
/// storage was: every file under patient [`SPEC_PATIENT_ID`] though most PID-3 values differ,
/// ISO-2022-JP with CR segment ends. Added traps: the lab file misfiled under another date
/// directory, a Shift_JIS ADT^A60 declared in MSH-18 (with 表, whose second byte is `\`), a
/// superseded prescription, and one unreadable file.
pub fn spec_storage() -> (Vec<SsmixFile>, SpecTruth) {
    let id = SPEC_PATIENT_ID;
    let path = |date: &str, ty: &str, order: &str, stamp: &str, flag: u8| {
        format!(
            "{}/{}/{id}/{date}/{ty}/{id}_{date}_{ty}_{order}_{stamp}_01_{flag}",
            &id[..3],
            &id[3..6]
        )
    };
    let jis = stored_message;
    let mut files = Vec::new();
    let mut truth = SpecTruth {
        patient_id: id.to_string(),
        ..SpecTruth::default()
    };
    for (k, (ty, text)) in SPEC_MESSAGES.iter().enumerate() {
        let (date, order) = match *ty {
            "ADT-00" | "ADT-51" => ("-".to_string(), "-".to_string()),
            _ => ("20111219".to_string(), format!("{:015}", 1000 + k)),
        };
        let stamp = format!("2011122010000{k}000");
        let mut p = path(&date, ty, &order, &stamp, 1);
        if *ty == "OML-11" {
            // Misfiled: the directory says another day than the file name.
            p = p.replace(&format!("/{id}/20111219/"), &format!("/{id}/20111220/"));
            truth.misfiled = p.clone();
        }
        files.push(SsmixFile {
            path: p,
            bytes: jis(text),
        });
    }
    truth.allergies = [
        "スギ",
        "ソバ",
        "ハウスダスト",
        "アリナミン",
        "ペニシリン",
        "造影剤",
    ]
    .map(String::from)
    .to_vec();
    truth.prescriptions = [
        "ダーゼン錠（５mg)",
        "パンスポリンＴ錠（１００mg)",
        "アレピアチン１０倍散",
        "ソリタ－Ｔ３号輸液５００ｍＬ",
        "アドナ注（静脈用）50mg",
    ]
    .map(String::from)
    .to_vec();
    truth.diagnoses = vec!["胃炎".into()];
    truth.labs = ["A/G比", "総蛋白", "アルブミン"].map(String::from).to_vec();
    truth.other_pid3 = ["12345678", "1234567890", "0001000052"]
        .map(String::from)
        .to_vec();

    // Shift_JIS, declared: a drug allergy whose severity is a bare code (SV, shown as 重度).
    let sjis = "MSH|^~\\&|HIS123|SEND|GW|RCV|20120105090000||ADT^A60^ADT_A60|20120105090000|P|2.5||||||SJIS\r\
                PID|0001||9999013^^^^PI||患者^太郎^^^^^L^I~カンジャ^タロウ^^^^^L^P||19480405|M\r\
                IAM|1|DA|620000001^造影剤^99XYZ|SV|表皮剥離~呼吸困難|A|||||20111201\r";
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(sjis);
    assert!(!bad);
    truth.shift_jis = path("-", "ADT-51", "-", "20120105090000000", 1);
    files.push(SsmixFile {
        path: truth.shift_jis.clone(),
        bytes: bytes.into_owned(),
    });

    // A superseded version of the prescription order: its drug must never be shown.
    truth.hidden = vec!["取消前処方薬錠".into()];
    let old = "MSH|^~\\&|HIS123|SEND|GW|RCV|20110701200000||RDE^O11^RDE_O11|20110701000000|P|2.5||||||~ISO IR87\r\
               PID|0001||9999013^^^^PI\rORC|NW|000000011000185\rRXE||999999^取消前処方薬錠^HOT9|1||TAB^錠^MR9P\r";
    files.push(SsmixFile {
        path: path(
            "20111219",
            "OMP-01",
            &format!("{:015}", 1003),
            "20110701200000000",
            2,
        ),
        bytes: jis(old),
    });

    // Unreadable: a current file that is not an HL7 message.
    truth.unreadable = path(
        "20111219",
        "OMP-01",
        "000000000009999",
        "20111221000000000",
        1,
    );
    files.push(SsmixFile {
        path: truth.unreadable.clone(),
        bytes: b"\x00\x01 truncated by a failing disk \xff\xfe".to_vec(),
    });
    (files, truth)
}

/// `text` as stored: ISO-2022-JP, LF segment ends turned into CR. Panics on characters outside
/// JIS X 0208.
pub fn stored_message(text: &str) -> Vec<u8> {
    let cr = text.replace('\n', "\r");
    let (bytes, _, bad) = encoding_rs::ISO_2022_JP.encode(&cr);
    assert!(!bad, "{text:?} has a character outside JIS X 0208");
    bytes.into_owned()
}

/// Writes [`spec_storage`] under `root` (which becomes the SS-MIX2 storage root).
pub fn write_spec_storage(root: &Path) -> io::Result<SpecTruth> {
    let (files, truth) = spec_storage();
    for f in files {
        let p = root.join(&f.path);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, f.bytes)?;
    }
    Ok(truth)
}

fn msg_type(data_type: &str) -> &'static str {
    match data_type {
        "ADT-51" => "ADT^A60^ADT_A60",
        "PPR-01" => "PPR^ZD1^PPR_ZD1",
        "OMP-01" => "OMP^O09^OMP_O09",
        "OML-11" => "OUL^R22^OUL_R22",
        _ => "ADT^A08^ADT_A01",
    }
}

/// A date in 2024–2026, `YYYYMMDD`.
fn date(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}{:02}{:02}",
        rng.random_range(2024..=2026),
        rng.random_range(1..=12),
        rng.random_range(1..=28)
    )
}

/// `min..=max` distinct indices below `len`.
fn pick(rng: &mut ChaCha8Rng, len: usize, min: usize, max: usize) -> Vec<usize> {
    let k = rng.random_range(min..=max);
    let mut out = Vec::new();
    while out.len() < k.min(len) {
        let i = rng.random_range(0..len);
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_7_bit() {
        let (a, ta) = generate(7, 5);
        let (b, _) = generate(7, 5);
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.path == y.path && x.bytes == y.bytes)
        );
        assert_eq!(ta.malformed.len(), 1);
        let good = a.iter().filter(|f| !ta.malformed.contains(&f.path));
        assert!(
            good.clone()
                .all(|f| f.bytes.starts_with(b"MSH|") && f.bytes.iter().all(|b| *b < 0x80))
        );
        assert_eq!(good.count(), ta.current_files + ta.not_current_files);
    }

    #[test]
    fn hiragana_conversion() {
        assert_eq!(to_hiragana("ヤマダタロウ"), "やまだたろう");
    }
}
