//! HTML pages (maud escapes every interpolated value) and the stylesheet.

use std::collections::HashMap;

use kura_ssmix::{
    Allergy, InfectionSource, LabResult, Notice, NoticeKind, PatientHit, PatientRecord,
    PrescriptionKind, abnormal_flag_words,
};
use maud::{DOCTYPE, Markup, html};

use crate::Banner;

/// Rows shown per section; a long-term patient can have thousands of lab values.
pub(crate) const MAX_ROWS: usize = 300;

pub(crate) const STYLE: &str = include_str!("style.css");

fn layout(title: &str, banner: &Banner, user: Option<&str>, body: Markup) -> String {
    let verdict_class = match banner.verdict.as_str() {
        "clean" => "clean",
        "suspicious" => "suspicious",
        _ => "unknown",
    };
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — kura 継続閲覧 Continuity viewer" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { "kura 継続閲覧" small { "Continuity viewer (read-only)" } }
                    @if let Some(u) = user {
                        form.logout method="post" action="/logout" {
                            span { (u) }
                            button type="submit" { "ログアウト " small { "Log out" } }
                        }
                    }
                }
                div.banner.(verdict_class) role="status" {
                    strong { "バックアップ世代 " small { "Backup generation" } }
                    " "
                    span.snap { "snapshot " code { (banner.snapshot_id) } }
                    " · " span.when { (banner.snapshot_time) }
                    " · " span.verdict { "判定 verdict: " strong { (banner.verdict) } }
                    " · " span.source { (banner.source) }
                    p.note { "この画面はバックアップ時点の情報です。最新ではない可能性があります。"
                        small { " Data as of the backup above; it may not be current." } }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

fn search_form(q: &str) -> Markup {
    html! {
        form.search method="get" action="/" role="search" {
            label for="q" { "患者検索 " small { "Patient search — ID or name (kanji / kana, partial)" } }
            div.row {
                input #q type="search" name="q" value=(q) maxlength="64" autofocus
                    placeholder="例: 0000012345 / 山田 / やまだ";
                button type="submit" { "検索 " small { "Search" } }
            }
        }
    }
}

pub(crate) fn search_page(
    banner: &Banner,
    user: Option<&str>,
    q: &str,
    hits: Option<&[PatientHit]>,
) -> String {
    let body = html! {
        (search_form(q))
        @if let Some(hits) = hits {
            h2 { "検索結果 " small { "Results (" (hits.len()) ")" } }
            @if hits.is_empty() {
                p.empty { "該当する患者はいません。 " small { "No patient matches." } }
            } @else {
                table.results {
                    thead { tr { th { "患者ID " small { "ID" } } th { "氏名 " small { "Name" } }
                        th { "カナ " small { "Kana" } } th { "生年月日 " small { "Born" } } th { "性別 " small { "Sex" } } } }
                    tbody {
                        @for h in hits {
                            tr {
                                td { a href={ "/patient/" (h.id) } { code { (h.id) } } }
                                td { a href={ "/patient/" (h.id) } { (h.name_kanji) } }
                                td { (h.name_kana) }
                                td { (fmt_date(&h.birth_date)) }
                                td { (sex(&h.sex)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("患者検索", banner, user, body)
}

fn section(ja: &str, en: &str, id: &str, count: usize, rows: Markup) -> Markup {
    html! {
        section #(id) {
            h2 { (ja) " " small { (en) } span.count { (count) } }
            @if count == 0 {
                p.empty { "記録なし " small { "None recorded" } }
            } @else {
                (rows)
                @if count > MAX_ROWS {
                    p.more { "新しい順に " (MAX_ROWS) " 件を表示 (全 " (count) " 件) "
                        small { "Newest " (MAX_ROWS) " of " (count) " shown" } }
                }
            }
        }
    }
}

/// The table of allergies and of drug contraindications (same record type); `ja`/`en` head the
/// column naming the allergen or drug.
fn allergy_table(ja: &str, en: &str, rows: &[Allergy]) -> Markup {
    html! {
        table.alert { thead { tr { th { (ja) " " small { (en) } } th { "種別 " small { "Type" } }
            th { "重症度 " small { "Severity" } } th { "症状 " small { "Reaction" } }
            th.d { "発症 " small { "Onset" } } } }
            tbody { @for a in rows.iter().take(MAX_ROWS) {
                tr { td { strong { (a.allergen) } @if !a.allergen_code.is_empty() { br; small.code { (a.allergen_code) } } }
                    td { (a.allergen_type_text) }
                    td.(severity_class(&a.severity)) { (a.severity) } td { (a.reaction) }
                    td.d { @if a.onset.is_empty() { small { "記録 " (fmt_date(&a.date)) } } @else { (fmt_date(&a.onset)) } } } } } }
    }
}

fn severity_class(s: &str) -> &'static str {
    match s {
        "重度" | "重症" | "高度" => "sev",
        _ => "",
    }
}

/// Warnings about this patient's files: IDs that differ from the storage path, misfiled and
/// unreadable files. Facts are never dropped silently: what could not be shown is said here.
fn notices(list: &[Notice]) -> Markup {
    let count = |k: NoticeKind| list.iter().filter(|n| n.kind == k).count();
    let unreadable = count(NoticeKind::Unreadable);
    let mismatch = count(NoticeKind::IdMismatch);
    let misfiled = count(NoticeKind::Misfiled);
    let lossy = count(NoticeKind::Encoding);
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    html! {
        section #notices.notices role="alert" {
            h2 { "⚠ 確認が必要なファイル " small { "Files that need checking" } span.count { (list.len()) } }
            ul {
                @if unreadable > 0 {
                    li.unreadable { strong { "読めなかったファイル " (unreadable) " 件" }
                        " — この患者の情報が欠けている可能性があります。 "
                        small { (unreadable) " " (files(unreadable)) " could not be read; information may be missing." } }
                }
                @if mismatch > 0 {
                    li { strong { "患者IDの不一致 " (mismatch) " 件" }
                        " — 保存場所の患者IDで表示しています。 "
                        small { (mismatch) " " (files(mismatch)) " name another patient ID (PID-3) than the storage path; shown under the storage path's patient." } }
                }
                @if misfiled > 0 {
                    li { strong { "保存場所の不整合 " (misfiled) " 件" }
                        small { " " (misfiled) " " (files(misfiled)) " misfiled; shown under the patient directory that holds them." } }
                }
                @if lossy > 0 {
                    li { strong { "文字化け " (lossy) " 件" }
                        small { " " (lossy) " " (files(lossy)) " with characters that could not be decoded." } }
                }
            }
            table.notices { thead { tr { th { "内容 " small { "Issue" } } th { "詳細 " small { "Detail" } } th { "ファイル " small { "File" } } } }
                tbody { @for n in list.iter().take(MAX_ROWS) {
                    tr { td { (notice_kind(n.kind)) } td { (n.detail) } td { code.path { (n.file) } } } } } }
            @if list.len() > MAX_ROWS {
                p.more { (MAX_ROWS) " / " (list.len()) " 件を表示 " small { (MAX_ROWS) " of " (list.len()) " shown" } }
            }
        }
    }
}

fn notice_kind(k: NoticeKind) -> &'static str {
    match k {
        NoticeKind::IdMismatch => "患者IDの不一致 ID mismatch",
        NoticeKind::Misfiled => "保存場所の不整合 Misfiled",
        NoticeKind::Unreadable => "読めなかったファイル Unreadable",
        NoticeKind::Encoding => "文字化け Undecodable characters",
    }
}

/// For each lab result, the previous value of the same test (by code, else name), if any.
fn previous_values(labs: &[LabResult]) -> Vec<Option<&LabResult>> {
    let mut prev = vec![None; labs.len()];
    let mut last: HashMap<&str, &LabResult> = HashMap::new();
    // Newest first: walk from the oldest so `last` holds the one before each row.
    for (i, l) in labs.iter().enumerate().rev() {
        let key = if l.code.is_empty() {
            &*l.name
        } else {
            &*l.code
        };
        prev[i] = last.get(key).copied();
        last.insert(key, l);
    }
    prev
}

/// Lab results grouped by day (newest first), each with the previous value of its test.
fn lab_table(labs: &[LabResult]) -> Markup {
    let prev = previous_values(labs);
    // (day heading when the day changes, result, previous result)
    let mut day = "";
    let rows: Vec<(Option<&str>, &LabResult, Option<&LabResult>)> = labs
        .iter()
        .zip(prev)
        .take(MAX_ROWS)
        .map(|(l, p)| {
            let this_day = l.date.get(..8).unwrap_or(&l.date);
            let heading = (this_day != day).then_some(this_day);
            day = this_day;
            (heading, l, p)
        })
        .collect();
    html! {
        table.labs { thead { tr { th { "項目 " small { "Test" } } th.n { "結果 " small { "Value" } }
            th { "単位 " small { "Units" } } th { "基準値 " small { "Range" } } th { "判定 " small { "Flag" } }
            th.n { "前回 " small { "Previous" } } } }
            tbody { @for (heading, l, p) in rows {
                @if let Some(d) = heading {
                    tr.day { th colspan="6" { (fmt_date(d)) } }
                }
                tr.(flag_class(&l.flag)) { td { (l.name) } td.n { strong { (l.value) } }
                    td { (l.units) } td { (l.range) }
                    td { @if !l.flag.is_empty() { span.flag { (l.flag) " " (abnormal_flag_words(&l.flag)) } } }
                    td.n.prev { @if let Some(p) = p { (p.value) " " small { (fmt_date(p.date.get(..8).unwrap_or(&p.date))) } } } } } } }
    }
}

pub(crate) fn patient_page(banner: &Banner, user: Option<&str>, r: &PatientRecord) -> String {
    let p = &r.patient;
    let body = html! {
        nav.back { a href="/" { "← 検索へ戻る " small { "Back to search" } }
            " · " a href={ "/patient/" (p.id) "/print" } { "印刷用 " small { "Printable summary" } } }
        div.patient {
            h1 { (p.name_kanji) " " span.kana { (p.name_kana) } }
            dl {
                dt { "患者ID " small { "ID" } } dd { code { (p.id) } }
                dt { "生年月日 " small { "Born" } } dd { (fmt_date(&p.birth_date)) }
                dt { "性別 " small { "Sex" } } dd { (sex(&p.sex)) }
            }
        }
        @if !r.notices.is_empty() { (notices(&r.notices)) }
        (sections(r))
    };
    layout(&format!("{} {}", p.name_kanji, p.id), banner, user, body)
}

/// The six kinds of information, shared by the screen and the printable page.
fn sections(r: &PatientRecord) -> Markup {
    html! {
        (section("アレルギー", "Allergies", "allergies", r.allergies.len(),
            allergy_table("アレルゲン", "Allergen", &r.allergies)))
        (section("薬剤禁忌", "Drug contraindications", "contraindications", r.contraindications.len(),
            allergy_table("薬剤", "Drug", &r.contraindications)))
        (section("処方", "Prescriptions", "prescriptions", r.prescriptions.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "区分 " small { "Kind" } } th { "薬剤 " small { "Drug" } } th { "用量 " small { "Dose" } }
                th { "用法 " small { "Timing" } } th { "日数 " small { "Days" } } th { "経路 " small { "Route" } } } }
                tbody { @for p in r.prescriptions.iter().take(MAX_ROWS) {
                    tr { td.d { (fmt_date(&p.date)) } td { (kind(p.kind)) } td { strong { (p.drug) } } td { (p.dose) }
                        td { (p.timing) } td { (p.duration) } td { (p.route) } } } } }
        }))
        (section("傷病名", "Diagnoses", "diagnoses", r.diagnoses.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "病名 " small { "Diagnosis" } } th { "コード " small { "Code" } } } }
                tbody { @for d in r.diagnoses.iter().take(MAX_ROWS) {
                    tr { td.d { (fmt_date(&d.date)) } td { (d.name) } td { code { (d.code) } } } } } }
        }))
        (section("感染症", "Infections", "infections", r.infections.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "項目 " small { "Test / diagnosis" } }
                th { "結果 " small { "Result" } } th { "出典 " small { "Source" } } } }
                tbody { @for i in r.infections.iter().take(MAX_ROWS) {
                    tr.(flag_class(&i.flag)) { td.d { (fmt_date(&i.date)) } td { (i.name) } td { (i.result) }
                        td { @match i.source { InfectionSource::Lab => { "検査 Lab" }, InfectionSource::Diagnosis => { "病名 Diagnosis" } } } } } } }
        }))
        (section("検査", "Lab results", "labs", r.labs.len(), lab_table(&r.labs)))
    }
}

/// The A4 summary for staff who work from paper when screens are down: the same six kinds of
/// information and notices, with the generation and its time on every page.
pub(crate) fn print_page(banner: &Banner, r: &PatientRecord) -> String {
    let p = &r.patient;
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                title { "患者サマリー " (p.name_kanji) " " (p.id) }
                link rel="stylesheet" href="/assets/style.css";
            }
            body.print {
                header.print {
                    h1 { "患者サマリー " small { "Patient summary" } }
                    p { "バックアップ世代 " code { (banner.snapshot_id) } " · " (banner.snapshot_time)
                        " · 判定 " (banner.verdict) " — この時点の情報です。 " small { "Data as of this backup." } }
                }
                div.patient {
                    h1 { (p.name_kanji) " " span.kana { (p.name_kana) } }
                    dl {
                        dt { "患者ID" } dd { code { (p.id) } }
                        dt { "生年月日" } dd { (fmt_date(&p.birth_date)) }
                        dt { "性別" } dd { (sex(&p.sex)) }
                    }
                }
                @if !r.notices.is_empty() { (notices(&r.notices)) }
                (sections(r))
            }
        }
    }
    .into_string()
}

fn kind(k: PrescriptionKind) -> &'static str {
    match k {
        PrescriptionKind::Order => "処方",
        PrescriptionKind::Injection => "注射",
        PrescriptionKind::Given => "実施",
    }
}

pub(crate) fn login_page(banner: &Banner, error: Option<&str>) -> String {
    let body = html! {
        form.login method="post" action="/login" {
            h1 { "ログイン " small { "Sign in" } }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            label { "ユーザー名 " small { "User" } input type="text" name="user" maxlength="128" autocomplete="username" required; }
            label { "パスワード " small { "Password" } input type="password" name="password" maxlength="1024" autocomplete="current-password" required; }
            label { "ワンタイムコード " small { "One-time code (if enabled)" }
                input type="text" name="code" maxlength="16" inputmode="numeric" autocomplete="one-time-code"; }
            button type="submit" { "ログイン " small { "Sign in" } }
        }
    };
    layout("ログイン", banner, None, body)
}

pub(crate) fn error_page(banner: &Banner, user: Option<&str>, ja: &str, en: &str) -> String {
    let body = html! {
        h1 { (ja) " " small { (en) } }
        p { a href="/" { "検索へ戻る " small { "Back to search" } } }
    };
    layout(ja, banner, user, body)
}

/// `YYYYMMDD[HHMM]` → `YYYY-MM-DD[ HH:MM]`, `YYYYMM` → `YYYY-MM`; anything else is shown as is.
fn fmt_date(d: &str) -> String {
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return d.to_string();
    }
    match d.len() {
        8 => format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]),
        12 => format!(
            "{}-{}-{} {}:{}",
            &d[..4],
            &d[4..6],
            &d[6..8],
            &d[8..10],
            &d[10..12]
        ),
        10 => format!("{}-{}-{} {}時", &d[..4], &d[4..6], &d[6..8], &d[8..10]),
        6 => format!("{}-{}", &d[..4], &d[4..6]),
        _ => d.to_string(),
    }
}

fn sex(s: &str) -> &str {
    match s {
        "M" => "男 M",
        "F" => "女 F",
        "O" => "その他 O",
        "U" | "" => "不明 U",
        other => other,
    }
}

fn flag_class(f: &str) -> &'static str {
    match f {
        "H" | "HH" | "L" | "LL" | "A" | "AA" | ">" | "<" => "abn",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted() {
        assert_eq!(fmt_date("20260105"), "2026-01-05");
        assert_eq!(fmt_date("202601050930"), "2026-01-05 09:30");
        assert_eq!(fmt_date("2026"), "2026");
        assert_eq!(fmt_date("199601"), "1996-01");
        assert_eq!(fmt_date("不明"), "不明");
    }

    fn banner() -> Banner {
        Banner {
            snapshot_id: "3f2a9c1e".into(),
            snapshot_time: "2026-01-05 02:00".into(),
            verdict: "clean".into(),
            source: "s".into(),
        }
    }

    fn record(messages: &[(&str, &str)]) -> PatientRecord {
        let mut ix = kura_ssmix::PatientIndex::new();
        for (path, text) in messages {
            let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(text);
            let _ = ix.add_file(path, &bytes);
        }
        ix.patient("0000012345").expect("patient").clone()
    }

    const P: &str =
        "000/001/0000012345/20260101/OML-11/0000012345_20260101_OML-11_1_20260101120000000_01_1";

    #[test]
    fn notices_name_both_ids_and_count_unreadable_files() {
        let other = P.replace("_1_2026", "_2_2026");
        let broken = P.replace("_1_2026", "_3_2026");
        let r = record(&[
            (
                P,
                "MSH|^~\\&|||||20260101||OUL^R22|1|P|2.5\rPID|||0000099999\rOBX|1|NM|1^AST||45|U/L|10-40|H\r",
            ),
            (
                &other,
                "MSH|^~\\&|||||20260101||OUL^R22|1|P|2.5\rPID|||12345\r",
            ),
            (&broken, "not an HL7 message"),
        ]);
        let page = patient_page(&banner(), None, &r);
        assert!(
            page.contains("PID-3 says 0000099999, the storage path says 0000012345"),
            "{page}"
        );
        assert!(page.contains("1 file could not be read"), "{page}");
        assert!(page.contains("読めなかったファイル 1 件"), "{page}");
        assert!(
            page.contains("患者IDの不一致 1 件"),
            "leading zeros are not a mismatch: {page}"
        );
    }

    #[test]
    fn labs_are_grouped_by_day_with_the_previous_value() {
        let day2 = P.replace("_1_2026", "_2_2026");
        let r = record(&[
            (
                P,
                "MSH|^~\\&|||||20260101||OUL^R22|1|P|2.5\rPID|||0000012345\rOBX|1|NM|1^AST||30|U/L|10-40|N|||F|||20260101\r",
            ),
            (
                &day2,
                "MSH|^~\\&|||||20260102||OUL^R22|1|P|2.5\rPID|||0000012345\rOBX|1|NM|1^AST||45|U/L|10-40|H|||F|||20260102\r",
            ),
        ]);
        let page = patient_page(&banner(), None, &r);
        let newest = page.find("2026-01-02").expect("day heading");
        let older = page.find("2026-01-01</th>").expect("older day heading");
        assert!(newest < older, "newest day first");
        assert!(page.contains("H 高"), "flag in words: {page}");
        // The newest AST row carries the previous value (30, 2026-01-01).
        let row = &page[newest..older];
        assert!(
            row.contains("45") && row.contains("30 <small>2026-01-01</small>"),
            "{row}"
        );
    }

    #[test]
    fn print_page_has_the_generation_and_six_sections() {
        let r = record(&[(
            P,
            "MSH|^~\\&|||||20260101||OUL^R22|1|P|2.5\rPID|||0000012345\r",
        )]);
        let page = print_page(&banner(), &r);
        assert!(page.contains("3f2a9c1e") && page.contains("2026-01-05 02:00"));
        for id in [
            "allergies",
            "contraindications",
            "prescriptions",
            "diagnoses",
            "infections",
            "labs",
        ] {
            assert!(page.contains(&format!(" id=\"{id}\"")), "{id}");
        }
    }

    #[test]
    fn interpolated_text_is_escaped() {
        let b = Banner {
            snapshot_id: "<script>".into(),
            snapshot_time: "t".into(),
            verdict: "clean".into(),
            source: "s".into(),
        };
        let page = search_page(&b, None, "\"><b>", Some(&[]));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("\"><b>"));
    }
}
