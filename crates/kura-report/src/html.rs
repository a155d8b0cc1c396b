//! The report as one self-contained HTML page (no external assets), A4 print layout, Japanese first.

use crate::{Report, Status, Wording};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = r#"
@page { size: A4; margin: 15mm 14mm; }
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", sans-serif; font-size: 10.5pt;
       color: #111; margin: 0 auto; max-width: 182mm; line-height: 1.5; }
h1 { font-size: 16pt; margin: 0 0 2mm; }
p.sub { margin: 0 0 4mm; color: #444; }
p.note { border: 1px solid #999; padding: 2mm 3mm; background: #f6f6f6; }
table { width: 100%; border-collapse: collapse; margin-top: 4mm; }
th, td { border: 1px solid #888; padding: 1.5mm 2mm; vertical-align: top; text-align: left; }
th { background: #e8e8e8; }
tr { page-break-inside: avoid; }
td.st { width: 18mm; text-align: center; font-weight: bold; }
.yes { background: #e3f4e3; } .no { background: #fbe3e3; } .attest { background: #fff6d6; }
.en { color: #555; font-size: 9pt; } .src { color: #666; font-size: 8pt; } code { font-size: 8.5pt; }
.unv { color: #8a4b00; font-weight: bold; }
"#;

/// Render `report` as a complete HTML document.
pub fn render_html(report: &Report) -> String {
    let mut rows = String::new();
    for i in &report.items {
        let (class, label) = match i.status {
            Status::Yes => ("yes", "はい<br>yes"),
            Status::No => ("no", "いいえ<br>no"),
            Status::Attest => ("attest", "申告<br>attest"),
        };
        let unverified = if i.wording == Wording::Unverified {
            "<div class=\"unv\">文言未確認: 厚生労働省の原文ではなく kura による要約 / wording not verified: kura's summary, not the ministry's text</div>"
        } else {
            ""
        };
        rows.push_str(&format!(
            "<tr id=\"{id}\"><td>{text}{unverified}<div class=\"en\">{en}</div><div class=\"src\">{src} · <code>{id}</code></div></td>\
             <td class=\"st {class}\">{label}</td><td>{evidence}</td><td>{date}</td></tr>\n",
            id = esc(&i.id),
            text = esc(&i.text),
            en = esc(&i.text_en),
            src = esc(&i.source),
            evidence = esc(&i.evidence),
            date = esc(i.date.as_deref().unwrap_or("—")),
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <title>バックアップ・復旧に関する確認報告書 (kura)</title><style>{STYLE}</style></head><body>\n\
         <h1>バックアップ・復旧に関する確認報告書</h1>\n\
         <p class=\"sub\">Backup and recovery evidence report · {edition} · 作成 generated {generated} · \
         RPO {rpo} 時間 h · ディスク交換周期 disk rotation {rot} 日 days</p>\n\
         <p class=\"note\">本報告書は立入検査等で確認に用いる証跡資料であり、認証ではありません。\
         「はい」は kura が自ら記録した状態に基づき、「申告」は担当者の申告に基づきます。<br>\
         <span class=\"en\">This report is evidence for an inspection, not a certification. “yes” is based on \
         state kura recorded itself; “attest” on a person's statement.</span></p>\n\
         <table><thead><tr><th>項目 item</th><th>回答 status</th><th>根拠 evidence</th><th>日付 date</th></tr></thead>\n\
         <tbody>\n{rows}</tbody></table>\n</body></html>\n",
        edition = esc(&report.edition),
        generated = esc(&report.generated.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        rpo = report.policy.rpo_hours,
        rot = report.policy.rotation_days,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attestations, Facts, Policy, checklist, evaluate};

    #[test]
    fn html_is_self_contained_a4_and_escapes_text() {
        let mut facts = Facts::default();
        facts.copies.push(crate::CopyFact {
            name: "disk:<b>".into(),
            kind: crate::CopyKind::Disk,
            offline_or_immutable: true,
            last_copy: Some(jiff::Timestamp::UNIX_EPOCH),
        });
        let r = evaluate(
            &checklist().unwrap(),
            &facts,
            &Attestations::default(),
            &Policy::default(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        let html = render_html(&r);
        assert!(html.contains("size: A4"));
        // Sources cite their URLs as text; nothing is loaded from anywhere.
        for external in ["<link", "<script", "<img", "src=", "url(", "href="] {
            assert!(!html.contains(external), "{external}");
        }
        assert!(html.contains("disk:&lt;b&gt;"));
        assert!(html.contains("認証ではありません"));
        // kura's own summaries are marked as such, next to their text.
        assert!(html.contains("文言未確認"));
        assert!(html.contains("RPO 24"));
    }
}
