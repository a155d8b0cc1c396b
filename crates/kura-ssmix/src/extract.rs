//! From one parsed HL7 message to the patient summary entries it carries.

use std::collections::HashSet;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use crate::hl7::{Message, Segment, component};
use crate::record::{
    Allergy, Diagnosis, Infection, InfectionSource, LabResult, Patient, PatientRecord,
    Prescription, PrescriptionKind, Text, insert_newest_first,
};
use crate::vocab::{allergen_type_words, duration_unit_words, severity_words, timing_words};

/// Deduplicates text so repeated names, units and dates are stored once.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Text>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Text {
        if let Some(t) = self.set.get(s) {
            return t.clone();
        }
        let t: Text = Arc::from(s);
        self.set.insert(t.clone());
        t
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }
}

/// Test names (upper-cased, NFKC) that make a lab result an 感染症 entry: the hospital admission
/// infection panel (HBs抗原, HCV抗体, 梅毒 TPHA/RPR, HIV) plus common ward-isolation organisms.
const INFECTION_LAB_WORDS: &[&str] = &[
    "HBS",
    "HBV",
    "HCV",
    "HIV",
    "HTLV",
    "梅毒",
    "TPHA",
    "TP抗体",
    "RPR",
    "MRSA",
    "VRE",
    "結核",
    "T-SPOT",
    "クォンティフェロン",
    "QFT",
    "インフルエンザ",
    "SARS-COV-2",
    "COVID",
    "ノロ",
];

/// Diagnosis names that make a 傷病名 an 感染症 entry too.
const INFECTION_DIAGNOSIS_WORDS: &[&str] = &[
    "感染",
    "B型肝炎",
    "C型肝炎",
    "ウイルス性肝炎",
    "梅毒",
    "結核",
    "HIV",
    "エイズ",
    "MRSA",
    "インフルエンザ",
    "COVID",
    "疥癬",
    "敗血症",
];

fn matches_any(name: &str, words: &[&str]) -> bool {
    // NFKC first: hospital systems often write full-width letters (慢性Ｃ型肝炎).
    let upper = name.nfkc().collect::<String>().to_uppercase();
    words.iter().any(|w| upper.contains(w))
}

/// Keeps the digits of an HL7 TS up to minutes: `20260101123456.789+0900` → `202601011234`.
fn ts(s: &str) -> String {
    s.chars()
        .take_while(char::is_ascii_digit)
        .take(12)
        .collect()
}

/// Counts of entries added, for [`crate::IndexStats`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Added {
    pub entries: usize,
}

/// Applies one message to `rec`. `path_date` is the storage path's date, used when MSH-7 is
/// empty; `id_matches` says whether PID-3 names this patient (demographics from a message
/// about another ID are used only until a matching one arrives).
pub(crate) fn apply(
    msg: &Message<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    path_date: &str,
    id_matches: bool,
) -> Added {
    let (code, _trigger) = msg.message_type();
    let msg_date = {
        let d = ts(&msg.timestamp());
        if d.is_empty() { ts(path_date) } else { d }
    };
    let mut added = Added::default();
    if let Some(pid) = msg.first("PID") {
        apply_pid(pid, rec, it, &msg_date, id_matches);
    }
    match code.as_str() {
        "ADT" => allergies(msg, rec, it, &msg_date, &mut added),
        "PPR" => diagnoses(msg, rec, it, &msg_date, &mut added),
        "OMP" | "RDE" | "RDS" | "RXO" | "RAS" => prescriptions(msg, rec, it, &msg_date, &mut added),
        "OML" | "OUL" | "ORU" => labs(msg, rec, it, &msg_date, &mut added),
        _ => {}
    }
    added
}

fn apply_pid(
    pid: &Segment<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    msg_date: &str,
    id_matches: bool,
) {
    // A message whose PID-3 names this patient beats one that names another ID; among equals
    // the newest wins (names change on marriage).
    let older = *rec.demographics_from > *msg_date;
    match (rec.demographics_matched, id_matches) {
        (true, false) => return,
        (false, true) => {}
        _ if older => return,
        _ => {}
    }
    rec.demographics_matched = id_matches;
    let seps = *pid.seps();
    let mut kanji = None;
    let mut kana = None;
    for rep in pid.repetitions(5) {
        let family = component(rep, 1, &seps);
        let given = component(rep, 2, &seps);
        let name = match (family.is_empty(), given.is_empty()) {
            (false, false) => format!("{family}\u{3000}{given}"),
            (false, true) => family,
            (true, false) => given,
            (true, true) => continue,
        };
        match component(rep, 8, &seps).as_str() {
            "P" => kana = kana.or(Some(name)),
            "I" => kanji = kanji.or(Some(name)),
            // No representation code: kana-only text is the reading, anything else the name.
            _ if name.chars().all(is_kana_or_space) => kana = kana.or(Some(name)),
            _ => kanji = kanji.or(Some(name)),
        }
    }
    let p = &mut rec.patient;
    let changed = Patient {
        id: p.id.clone(),
        name_kanji: kanji.map_or_else(|| p.name_kanji.clone(), |s| it.intern(&s)),
        name_kana: kana.map_or_else(|| p.name_kana.clone(), |s| it.intern(&s)),
        birth_date: nonempty(
            it,
            &pid.comp(7, 1).chars().take(8).collect::<String>(),
            &p.birth_date,
        ),
        sex: nonempty(it, &pid.comp(8, 1), &p.sex),
    };
    *p = changed;
    rec.demographics_from = it.intern(msg_date);
}

fn nonempty(it: &mut Interner, s: &str, old: &Text) -> Text {
    if s.is_empty() {
        old.clone()
    } else {
        it.intern(s)
    }
}

fn is_kana_or_space(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{30ff}' | '\u{ff66}'..='\u{ff9f}' | ' ' | '\u{3000}')
}

/// Component 2 (text) of a coded element, else component 1 (code).
fn coded_text(seg: &Segment<'_>, n: usize) -> String {
    let t = seg.comp(n, 2);
    if t.is_empty() { seg.comp(n, 1) } else { t }
}

fn allergies(
    msg: &Message<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    msg_date: &str,
    added: &mut Added,
) {
    for seg in msg
        .segments
        .iter()
        .filter(|s| s.name == "AL1" || s.name == "IAM")
    {
        let is_iam = seg.name == "IAM";
        // IAM-6 action code D: the allergy was removed.
        if is_iam && seg.comp(6, 1) == "D" {
            continue;
        }
        let allergen = coded_text(seg, 3);
        if allergen.is_empty() {
            continue;
        }
        let seps = *seg.seps();
        let reaction: Vec<String> = seg
            .repetitions(5)
            .map(|r| {
                let t = component(r, 2, &seps);
                if t.is_empty() {
                    component(r, 1, &seps)
                } else {
                    t
                }
            })
            .filter(|r| !r.is_empty())
            .collect();
        let date = if is_iam {
            let onset = ts(&seg.comp(11, 1));
            if onset.is_empty() {
                ts(&seg.comp(13, 1))
            } else {
                onset
            }
        } else {
            ts(&seg.comp(6, 1))
        };
        let date = if date.is_empty() {
            msg_date.to_string()
        } else {
            date
        };
        let allergen_type = seg.comp(2, 1).to_ascii_uppercase();
        let type_text = seg.comp(2, 2);
        let type_text = if type_text.is_empty() {
            allergen_type_words(&allergen_type).to_string()
        } else {
            type_text
        };
        let severity = match seg.comp(4, 2) {
            t if t.is_empty() => severity_words(&seg.comp(4, 1)).to_string(),
            t => t,
        };
        let code = seg.comp(3, 1);
        let system = seg.comp(3, 3);
        let allergen_code = match (code.is_empty(), system.is_empty()) {
            (true, _) => String::new(),
            (false, true) => code,
            (false, false) => format!("{code} ({system})"),
        };
        // IAM-11 onset date, else IAM-12 onset text ("小学校低学年の頃"); AL1-6 identification.
        let onset = if is_iam {
            match ts(&seg.comp(11, 1)) {
                d if d.is_empty() => seg.text(12),
                d => d,
            }
        } else {
            ts(&seg.comp(6, 1))
        };
        let a = Allergy {
            date: it.intern(&date),
            allergen_type: it.intern(&allergen_type),
            allergen_type_text: it.intern(&type_text),
            allergen: it.intern(&allergen),
            allergen_code: it.intern(&allergen_code),
            severity: it.intern(&severity),
            reaction: it.intern(&reaction.join("、")),
            onset: it.intern(&onset),
        };
        // DA (drug allergy) is both an allergy and a drug contraindication; MC (miscellaneous
        // contraindication) is only a contraindication (HL7 table 0127).
        match allergen_type.as_str() {
            "DA" => {
                insert_newest_first(&mut rec.contraindications, a.clone(), |x| &x.date);
                insert_newest_first(&mut rec.allergies, a, |x| &x.date);
                added.entries += 2;
            }
            "MC" => {
                insert_newest_first(&mut rec.contraindications, a, |x| &x.date);
                added.entries += 1;
            }
            _ => {
                insert_newest_first(&mut rec.allergies, a, |x| &x.date);
                added.entries += 1;
            }
        }
    }
}

fn diagnoses(
    msg: &Message<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    msg_date: &str,
    added: &mut Added,
) {
    for prb in msg.segments.iter().filter(|s| s.name == "PRB") {
        // PRB-1 action code DE: the problem was deleted.
        if prb.comp(1, 1) == "DE" {
            continue;
        }
        let name = coded_text(prb, 3);
        if name.is_empty() {
            continue;
        }
        let mut date = ts(&prb.comp(16, 1));
        if date.is_empty() {
            date = ts(&prb.comp(7, 1));
        }
        if date.is_empty() {
            date = msg_date.to_string();
        }
        let d = Diagnosis {
            date: it.intern(&date),
            code: it.intern(&prb.comp(3, 1)),
            name: it.intern(&name),
        };
        if matches_any(&name, INFECTION_DIAGNOSIS_WORDS) {
            let inf = Infection {
                date: d.date.clone(),
                name: d.name.clone(),
                result: it.intern(""),
                flag: it.intern(""),
                source: InfectionSource::Diagnosis,
            };
            insert_newest_first(&mut rec.infections, inf, |x| &x.date);
            added.entries += 1;
        }
        insert_newest_first(&mut rec.diagnoses, d, |x| &x.date);
        added.entries += 1;
    }
}

/// One drug waiting for its group's TQ1/RXR, which may come before or after it.
struct Drug {
    kind: PrescriptionKind,
    code: String,
    name: String,
    dose: String,
    /// RXA-3 for a recorded administration.
    date: String,
}

/// The drugs of one ORC group.
#[derive(Default)]
struct OrderGroup {
    cancelled: bool,
    orc_date: String,
    timing: String,
    /// RXE-7, e.g. `５時間一定速度で` for an infusion.
    instructions: String,
    duration: String,
    start: String,
    route: String,
    /// The RXE of an injection order, replaced by its RXC components once they are seen.
    injection_rxe: Option<Drug>,
    drugs: Vec<Drug>,
}

fn prescriptions(
    msg: &Message<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    msg_date: &str,
    added: &mut Added,
) {
    let mut group = OrderGroup::default();
    let mut flush = |g: &mut OrderGroup, rec: &mut PatientRecord, it: &mut Interner| {
        let mut g = std::mem::take(g);
        if g.cancelled {
            return;
        }
        // An injection RXE without RXC components is itself the drug.
        if let Some(rxe) = g.injection_rxe.take() {
            g.drugs.insert(0, rxe);
        }
        let date = [&g.start, &g.orc_date]
            .into_iter()
            .find(|d| !d.is_empty())
            .cloned()
            .unwrap_or_else(|| msg_date.to_string());
        let timing = match (g.timing.is_empty(), g.instructions.is_empty()) {
            (_, true) => g.timing,
            (true, false) => g.instructions,
            (false, false) => format!("{} {}", g.timing, g.instructions),
        };
        for d in g.drugs {
            let date = if d.date.is_empty() { &date } else { &d.date };
            let p = Prescription {
                date: it.intern(date),
                kind: d.kind,
                code: it.intern(&d.code),
                drug: it.intern(&d.name),
                dose: it.intern(&d.dose),
                timing: it.intern(&timing),
                duration: it.intern(&g.duration),
                route: it.intern(&g.route),
            };
            insert_newest_first(&mut rec.prescriptions, p, |x| &x.date);
            added.entries += 1;
        }
    };
    for seg in &msg.segments {
        match seg.name {
            "ORC" => {
                flush(&mut group, rec, it);
                // ORC-1 CA/DC: a cancelled or discontinued order is not a current prescription.
                group.cancelled = matches!(seg.comp(1, 1).as_str(), "CA" | "DC");
                group.orc_date = ts(&seg.comp(9, 1));
            }
            "TQ1" if group.timing.is_empty() && group.start.is_empty() => {
                // TQ1-3 is an RPT whose first component is a CWE written with subcomponents:
                // `1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01` (JAHIS).
                let text = [seg.sub(3, 1, 2), seg.comp(3, 2)]
                    .into_iter()
                    .find(|t| !t.is_empty());
                group.timing = text.unwrap_or_else(|| timing_words(&seg.sub(3, 1, 1)));
                let (n, unit) = (seg.comp(6, 1), seg.comp(6, 2));
                group.duration = cq(&n, duration_unit_words(&unit));
                if !group.duration.is_empty() {
                    group.duration = group.duration.replace(' ', "");
                }
                group.start = ts(&seg.comp(7, 1));
            }
            "RXR" if group.route.is_empty() => group.route = coded_text(seg, 1),
            // RXE-2 give code, RXE-3 amount, RXE-5 units; RXO-1, RXO-2, RXO-4.
            "RXE" | "RXO" => {
                let (c, a, u) = if seg.name == "RXE" {
                    (2, 3, 5)
                } else {
                    (1, 2, 4)
                };
                let name = coded_text(seg, c);
                if name.is_empty() {
                    continue;
                }
                let drug = Drug {
                    kind: PrescriptionKind::Order,
                    code: seg.comp(c, 1),
                    name,
                    dose: cq(&seg.comp(a, 1), &coded_text(seg, u)),
                    date: String::new(),
                };
                // RXE-6 dosage form INJ (MERIT-9): an injection order whose drugs are its RXCs.
                if seg.name == "RXE" && seg.comp(6, 1) == "INJ" {
                    group.instructions = coded_text(seg, 7);
                    group.injection_rxe = Some(Drug {
                        kind: PrescriptionKind::Injection,
                        ..drug
                    });
                } else {
                    group.drugs.push(drug);
                }
            }
            // RXC-2 component, RXC-3 amount, RXC-4 units.
            "RXC" => {
                let name = coded_text(seg, 2);
                if name.is_empty() {
                    continue;
                }
                group.injection_rxe = None;
                group.drugs.push(Drug {
                    kind: PrescriptionKind::Injection,
                    code: seg.comp(2, 1),
                    name,
                    dose: cq(&seg.comp(3, 1), &coded_text(seg, 4)),
                    date: String::new(),
                });
            }
            // RAS^O17 (OMP-11/-12): RXA-3 start, RXA-5 code, RXA-6 amount, RXA-7 units.
            "RXA" => {
                let name = coded_text(seg, 5);
                if name.is_empty() {
                    continue;
                }
                group.drugs.push(Drug {
                    kind: PrescriptionKind::Given,
                    code: seg.comp(5, 1),
                    name,
                    dose: cq(&seg.comp(6, 1), &coded_text(seg, 7)),
                    date: ts(&seg.comp(3, 1)),
                });
            }
            _ => {}
        }
    }
    flush(&mut group, rec, it);
}

/// A quantity and its unit, e.g. `("7", "日")` → `7 日`; units may be `code^text`.
fn cq(n: &str, unit: &str) -> String {
    let unit = unit.rsplit('^').next().unwrap_or(unit);
    // Units like "D" (days) or "TAB" are codes; the text form is preferred above.
    match (n.is_empty(), unit.is_empty()) {
        (true, _) => String::new(),
        (false, true) => n.to_string(),
        (false, false) => format!("{n} {unit}"),
    }
}

fn labs(
    msg: &Message<'_>,
    rec: &mut PatientRecord,
    it: &mut Interner,
    msg_date: &str,
    added: &mut Added,
) {
    let mut obr_date = String::new();
    let mut spm_date = String::new();
    for seg in &msg.segments {
        match seg.name {
            "OBR" => obr_date = ts(&seg.comp(7, 1)),
            "SPM" => spm_date = ts(&seg.comp(17, 1)),
            "OBX" => {
                let value_type = seg.comp(2, 1);
                let value = match value_type.as_str() {
                    "CWE" | "CE" | "CNE" => coded_text(seg, 5),
                    // Structured numeric: `<^0.5`, `^1^:^40` → `<0.5`, `1:40`.
                    "SN" => (1..=4).map(|c| seg.comp(5, c)).collect::<String>(),
                    _ => seg.text(5),
                };
                let name = coded_text(seg, 3);
                if value.is_empty() || name.is_empty() {
                    continue;
                }
                let date = [ts(&seg.comp(14, 1)), obr_date.clone(), spm_date.clone()]
                    .into_iter()
                    .find(|d| !d.is_empty())
                    .unwrap_or_else(|| msg_date.to_string());
                let l = LabResult {
                    date: it.intern(&date),
                    code: it.intern(&seg.comp(3, 1)),
                    name: it.intern(&name),
                    value: it.intern(&value),
                    units: it.intern(&coded_text(seg, 6)),
                    range: it.intern(&seg.text(7)),
                    flag: it.intern(&seg.comp(8, 1)),
                };
                if matches_any(&name, INFECTION_LAB_WORDS) {
                    let inf = Infection {
                        date: l.date.clone(),
                        name: l.name.clone(),
                        result: l.value.clone(),
                        flag: l.flag.clone(),
                        source: InfectionSource::Lab,
                    };
                    insert_newest_first(&mut rec.infections, inf, |x| &x.date);
                    added.entries += 1;
                }
                insert_newest_first(&mut rec.labs, l, |x| &x.date);
                added.entries += 1;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hl7::parse;

    fn run(text: &str) -> PatientRecord {
        let mut it = Interner::default();
        let mut rec = PatientRecord::new(it.intern("0000012345"), it.intern(""));
        let msg = parse(text).unwrap();
        apply(&msg, &mut rec, &mut it, "20260101", true);
        rec
    }

    const MSH: &str = "MSH|^~\\&|HIS|FAC|SSMIX2|FAC|20260105093000||";

    #[test]
    fn pid_kanji_and_kana_by_representation_code() {
        let r = run(&format!(
            "{MSH}ADT^A08^ADT_A01|1|P|2.5\rPID|0001||0000012345^^^^PI||ヤマダ^タロウ^^^^^L^P~山田^太郎^^^^^L^I||19800102|M\r"
        ));
        assert_eq!(&*r.patient.name_kanji, "山田\u{3000}太郎");
        assert_eq!(&*r.patient.name_kana, "ヤマダ\u{3000}タロウ");
        assert_eq!(&*r.patient.birth_date, "19800102");
        assert_eq!(&*r.patient.sex, "M");
    }

    #[test]
    fn adt_a60_allergies_and_contraindications() {
        let r = run(&format!(
            "{MSH}ADT^A60^ADT_A60|1|P|2.5\rPID|||0000012345\r\
             IAM|1|DA^薬剤アレルギー^HL70127|1100001^ペニシリン^HOT|SV^重症^HL70128|発疹~^呼吸困難|A|||||20200301\r\
             IAM|2|FA|^卵|MI||A\r\
             IAM|3|DA|^アスピリン|||D\r\
             AL1|4|MC|^造影剤|MO||20190101\r"
        ));
        let names: Vec<_> = r.allergies.iter().map(|a| &*a.allergen).collect();
        assert_eq!(
            names,
            // 卵 has no date of its own: it takes the message date (2026) and sorts first.
            ["卵", "ペニシリン"],
            "newest first, deleted IAM dropped"
        );
        assert_eq!(&*r.allergies[1].reaction, "発疹、呼吸困難");
        assert_eq!(&*r.allergies[1].severity, "重症");
        let ci: Vec<_> = r.contraindications.iter().map(|a| &*a.allergen).collect();
        assert_eq!(ci, ["ペニシリン", "造影剤"]);
    }

    #[test]
    fn ppr_zd1_diagnoses_and_infections() {
        let r = run(&format!(
            "{MSH}PPR^ZD1^PPR_ZD1|1|P|2.5\rPID|||0000012345\r\
             PRB|AD|20260105|I109^本態性高血圧症^MDCDX2|1||||||||||||20150401\r\
             PRB|AD|20260105|B181^慢性C型肝炎^MDCDX2|2||||||||||||20180701\r\
             PRB|DE|20260105|J00^かぜ^MDCDX2|3\r"
        ));
        let names: Vec<_> = r.diagnoses.iter().map(|d| &*d.name).collect();
        assert_eq!(names, ["慢性C型肝炎", "本態性高血圧症"]);
        assert_eq!(r.infections.len(), 1);
        assert_eq!(r.infections[0].source, InfectionSource::Diagnosis);
    }

    #[test]
    fn omp_o09_prescriptions_take_their_group_timing() {
        let r = run(&format!(
            "{MSH}OMP^O09^OMP_O09|1|P|2.5\rPID|||0000012345\r\
             ORC|NW|1|||||||20260105\r\
             TQ1|||1013044400000000^内服・経口・１日３回朝昼夕食後^JAMISDP01|||7^日|20260105\r\
             RXE||620004475^ロキソニン錠60mg^HOT|1||TAB^錠^MR9P\rRXR|PO^経口\r\
             RXE||610432014^ムコスタ錠100mg^HOT|1||TAB^錠^MR9P\r\
             ORC|CA|2|||||||20260105\rTQ1|||x\rRXE||9^キャンセル薬|1\r"
        ));
        let drugs: Vec<_> = r.prescriptions.iter().map(|p| &*p.drug).collect();
        assert_eq!(drugs, ["ロキソニン錠60mg", "ムコスタ錠100mg"]);
        let p = &r.prescriptions[0];
        assert_eq!(&*p.timing, "内服・経口・１日３回朝昼夕食後");
        assert_eq!(&*p.duration, "7日");
        assert_eq!(&*p.dose, "1 錠");
        assert_eq!(&*p.route, "経口");
        assert_eq!(&*p.date, "20260105");
    }

    #[test]
    fn ras_o17_administrations_are_given_entries() {
        // OMP-11/-12 (処方・注射実施): RAS^O17, RXA-3 start, RXA-5 drug, RXA-6 amount, RXA-7 units.
        let r = run(&format!(
            "{MSH}RAS^O17^RAS_O17|1|P|2.5\rPID|||0000012345\r\
             ORC|RE|1|||||||20260105\r\
             RXA|0|1|202601050900|202601050930|620002559^アドナ注（静脈用）50mg^HOT9|1|AMP^アンプル^MR9P\r\
             RXR|IV^静脈内^HL70162\r"
        ));
        let p = &r.prescriptions[0];
        assert_eq!(p.kind, PrescriptionKind::Given);
        assert_eq!(&*p.drug, "アドナ注（静脈用）50mg");
        assert_eq!(&*p.dose, "1 アンプル");
        assert_eq!(&*p.date, "202601050900");
        assert_eq!(&*p.route, "静脈内");
    }

    #[test]
    fn timing_code_without_text_is_decoded_or_marked() {
        let r = run(&format!(
            "{MSH}RDE^O11^RDE_O11|1|P|2.5\rORC|NW\r\
             RXE||1^薬A^HOT|1||TAB^錠^MR9P\rTQ1|||1012040400000000&&JAMISDP01\r\
             ORC|NW\rRXE||2^薬B^HOT|1||TAB^錠^MR9P\rTQ1|||TID\r\
             ORC|NW\rRXE||3^薬C^HOT|1||TAB^錠^MR9P\rTQ1|||1099999900000000&&JAMISDP01\r"
        ));
        let timing = |d: &str| {
            r.prescriptions
                .iter()
                .find(|p| &*p.drug == d)
                .map(|p| p.timing.to_string())
                .unwrap()
        };
        assert_eq!(timing("薬A"), "内服・経口・１日２回朝夕食後");
        assert_eq!(timing("薬B"), "1日3回");
        assert_eq!(timing("薬C"), "用法コード 1099999900000000");
    }

    #[test]
    fn injection_rxe_without_components_is_itself_the_drug() {
        let r = run(&format!(
            "{MSH}RDE^O11^RDE_O11|1|P|2.5\rORC|NW\r\
             RXE||620007329^ソリタ−Ｔ３号輸液５００ｍＬ^HOT9|1||HON^本^MR9P|INJ^注射剤^MR9P\rRXR|IV^静脈内\r"
        ));
        assert_eq!(r.prescriptions.len(), 1);
        assert_eq!(r.prescriptions[0].kind, PrescriptionKind::Injection);
        assert_eq!(&*r.prescriptions[0].route, "静脈内");
    }

    #[test]
    fn rde_with_rxo() {
        let r = run(&format!(
            "{MSH}OMP^O09|1|P|2.5\rORC|NW\rRXO|123^ワーファリン錠1mg|2||TAB^錠\r"
        ));
        assert_eq!(&*r.prescriptions[0].drug, "ワーファリン錠1mg");
        assert_eq!(&*r.prescriptions[0].dose, "2 錠");
        assert_eq!(
            &*r.prescriptions[0].date, "202601050930",
            "falls back to MSH-7"
        );
    }

    #[test]
    fn oul_r22_labs_and_infection_panel() {
        let r = run(&format!(
            "{MSH}OUL^R22^OUL_R22|1|P|2.5\rPID|||0000012345\rSPM|1||||||||||||||||20260104080000\r\
             OBR|1||||||20260104090000\r\
             OBX|1|NM|3D010000001926101^AST^JC10||45|U/L^U/L|10-40|H|||F\r\
             OBX|2|CWE|5F016141002305201^HBs抗原^JC10||NEG^陰性||||||F\r\
             OBX|3|NM|X^空値||\r"
        ));
        assert_eq!(r.labs.len(), 2);
        let ast = r.labs.iter().find(|l| &*l.name == "AST").unwrap();
        assert_eq!(
            (&*ast.value, &*ast.units, &*ast.range, &*ast.flag),
            ("45", "U/L", "10-40", "H")
        );
        assert_eq!(&*ast.date, "202601040900");
        assert_eq!(r.infections.len(), 1);
        assert_eq!(&*r.infections[0].result, "陰性");
    }

    #[test]
    fn oru_r01_uses_obx_14_date() {
        let r = run(&format!(
            "{MSH}ORU^R01|1|P|2.5\rOBR|1\rOBX|1|ST|MRSA^MRSA培養||検出|||A|||F|||20251224\r"
        ));
        assert_eq!(&*r.labs[0].date, "20251224");
        assert_eq!(&*r.infections[0].name, "MRSA培養");
    }

    #[test]
    fn older_message_does_not_overwrite_demographics() {
        let mut it = Interner::default();
        let mut rec = PatientRecord::new(it.intern("1"), it.intern(""));
        let new = parse("MSH|^~\\&|||||20260201||ADT^A08\rPID|||1||新姓^花子^^^^^L^I\r").unwrap();
        let old = parse("MSH|^~\\&|||||20200201||ADT^A08\rPID|||1||旧姓^花子^^^^^L^I\r").unwrap();
        apply(&new, &mut rec, &mut it, "", true);
        apply(&old, &mut rec, &mut it, "", true);
        assert_eq!(&*rec.patient.name_kanji, "新姓\u{3000}花子");
    }
}
