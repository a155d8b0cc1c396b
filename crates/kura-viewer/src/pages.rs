//! HTML pages (maud escapes every interpolated value) and the stylesheet.

use kura_ssmix::{Allergy, InfectionSource, PatientHit, PatientRecord};
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
        table.alert { thead { tr { th.d { "日付 " small { "Date" } } th { (ja) " " small { (en) } }
            th { "種別 " small { "Type" } } th { "重症度 " small { "Severity" } } th { "症状 " small { "Reaction" } } } }
            tbody { @for a in rows.iter().take(MAX_ROWS) {
                tr { td.d { (fmt_date(&a.date)) } td { strong { (a.allergen) } } td { (allergen_type(&a.allergen_type)) }
                    td { (a.severity) } td { (a.reaction) } } } } }
    }
}

pub(crate) fn patient_page(banner: &Banner, user: Option<&str>, r: &PatientRecord) -> String {
    let p = &r.patient;
    let body = html! {
        nav.back { a href="/" { "← 検索へ戻る " small { "Back to search" } } }
        div.patient {
            h1 { (p.name_kanji) " " span.kana { (p.name_kana) } }
            dl {
                dt { "患者ID " small { "ID" } } dd { code { (p.id) } }
                dt { "生年月日 " small { "Born" } } dd { (fmt_date(&p.birth_date)) }
                dt { "性別 " small { "Sex" } } dd { (sex(&p.sex)) }
            }
        }
        (section("傷病名", "Diagnoses", "diagnoses", r.diagnoses.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "病名 " small { "Diagnosis" } } th { "コード " small { "Code" } } } }
                tbody { @for d in r.diagnoses.iter().take(MAX_ROWS) {
                    tr { td.d { (fmt_date(&d.date)) } td { (d.name) } td { code { (d.code) } } } } } }
        }))
        (section("アレルギー", "Allergies", "allergies", r.allergies.len(),
            allergy_table("アレルゲン", "Allergen", &r.allergies)))
        (section("薬剤禁忌", "Drug contraindications", "contraindications", r.contraindications.len(),
            allergy_table("薬剤", "Drug", &r.contraindications)))
        (section("検査", "Lab results", "labs", r.labs.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "項目 " small { "Test" } } th.n { "結果 " small { "Value" } }
                th { "単位 " small { "Units" } } th { "基準値 " small { "Range" } } th { "判定 " small { "Flag" } } } }
                tbody { @for l in r.labs.iter().take(MAX_ROWS) {
                    tr.(flag_class(&l.flag)) { td.d { (fmt_date(&l.date)) } td { (l.name) } td.n { (l.value) }
                        td { (l.units) } td { (l.range) } td { (l.flag) } } } } }
        }))
        (section("感染症", "Infections", "infections", r.infections.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "項目 " small { "Test / diagnosis" } }
                th { "結果 " small { "Result" } } th { "出典 " small { "Source" } } } }
                tbody { @for i in r.infections.iter().take(MAX_ROWS) {
                    tr.(flag_class(&i.flag)) { td.d { (fmt_date(&i.date)) } td { (i.name) } td { (i.result) }
                        td { @match i.source { InfectionSource::Lab => { "検査 Lab" }, InfectionSource::Diagnosis => { "病名 Diagnosis" } } } } } } }
        }))
        (section("処方", "Prescriptions", "prescriptions", r.prescriptions.len(), html! {
            table { thead { tr { th.d { "日付 " small { "Date" } } th { "薬剤 " small { "Drug" } } th { "用量 " small { "Dose" } }
                th { "用法 " small { "Timing" } } th { "日数 " small { "Days" } } th { "経路 " small { "Route" } } } }
                tbody { @for p in r.prescriptions.iter().take(MAX_ROWS) {
                    tr { td.d { (fmt_date(&p.date)) } td { strong { (p.drug) } } td { (p.dose) }
                        td { (p.timing) } td { (p.duration) } td { (p.route) } } } } }
        }))
    };
    layout(&format!("{} {}", p.name_kanji, p.id), banner, user, body)
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

/// `YYYYMMDD[HHMM]` → `YYYY-MM-DD[ HH:MM]`; anything else is shown as is.
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

/// HL7 table 0127.
fn allergen_type(t: &str) -> &str {
    match t {
        "DA" => "薬剤 Drug",
        "FA" => "食物 Food",
        "EA" => "環境 Environment",
        "MA" => "その他 Misc.",
        "MC" => "禁忌 Contraindication",
        "AA" => "動物 Animal",
        "PA" => "植物 Plant",
        "LA" => "花粉 Pollen",
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
        assert_eq!(fmt_date("不明"), "不明");
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
