//! Editing `customer_account_ids` in the Packer locals. The list is located by parsing
//! the file (hcl-edit gives each element's byte range); an edit adds or removes one
//! whole line and leaves every other byte as it was.

use anyhow::{bail, Result};

use crate::domain::{
    images::accounts::{account_list, AccountId, Customer},
    images::packer::{local_list, LocalList, LOCALS_FILE},
};

const LIST: &str = "customer_account_ids";

fn list(text: &str) -> Result<LocalList> {
    local_list(LOCALS_FILE, text, LIST)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

pub fn customers(text: &str) -> Result<Vec<Customer>> {
    account_list(text, LIST)
}

/// Appends `"<id>", # <note>` as a new line at the end of the list.
pub fn add(text: &str, id: &AccountId, note: &str) -> Result<String> {
    let note = note.trim();
    if note.is_empty() || note.contains(['\n', '\r']) {
        bail!("the note must name the customer on one line, e.g. --note \"Acme Corp (trial)\"");
    }
    let current = list(text)?;
    if current.items.iter().any(|item| item.value == id.as_str()) {
        bail!("{} is already in {LIST} in {LOCALS_FILE}; nothing to add", id.as_str());
    }
    let closing = current.bytes.end - 1;
    if !text[line_start(text, closing)..closing].trim().is_empty() {
        bail!("{LOCALS_FILE}: the closing `]` of {LIST} shares a line with other text; put one ID per line");
    }
    let indent = match current.items.last() {
        Some(last) => text[line_start(text, last.bytes.start)..last.bytes.start].to_owned(),
        None => format!("{}  ", &text[line_start(text, closing)..closing]),
    };
    let mut edited = text.to_owned();
    edited.insert_str(line_start(text, closing), &format!("{indent}\"{}\", # {note}\n", id.as_str()));
    if let Some(last) = current.items.last() {
        let after = &text[last.bytes.end..];
        if !after.trim_start_matches([' ', '\t']).starts_with(',') {
            edited.insert(last.bytes.end, ',');
        }
    }
    Ok(edited)
}

/// Removes the line that holds the ID.
pub fn remove(text: &str, id: &AccountId) -> Result<String> {
    let current = list(text)?;
    let Some(item) = current.items.iter().find(|item| item.value == id.as_str()) else {
        bail!(
            "{} is not in {LIST} in {LOCALS_FILE}; nothing to remove (see `cargo xtask customers list`)",
            id.as_str()
        );
    };
    let (start, end) = (line_start(text, item.bytes.start), line_end(text, item.bytes.end));
    let before = &text[start..item.bytes.start];
    let after = text[item.bytes.end..end].trim_start().trim_start_matches(',').trim_start();
    if !before.trim().is_empty() || !(after.is_empty() || after.starts_with('#') || after.starts_with("//")) {
        bail!("{LOCALS_FILE}: {} shares its line with other text; put one ID per line and run this again", id.as_str());
    }
    let mut edited = text.to_owned();
    edited.replace_range(start..end, "");
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCALS: &str = include_str!("../../../../ops/image-deploy/locals.pkr.hcl");

    fn id(text: &str) -> AccountId {
        AccountId::parse(text).unwrap()
    }

    #[test]
    fn lists_ids_with_their_notes() {
        let list = customers(LOCALS).unwrap();
        assert_eq!(list[0], Customer { id: id("305198143522"), note: "Acme Analytics (pilot)".into() });
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn add_then_remove_changes_one_line_only() {
        let added = add(LOCALS, &id("123456789012"), "Initech").unwrap();
        let expected = LOCALS.replace(
            "    \"418275639014\", # Globex Retail\n",
            "    \"418275639014\", # Globex Retail\n    \"123456789012\", # Initech\n",
        );
        assert_eq!(added, expected);
        assert_eq!(
            customers(&added).unwrap().last().unwrap(),
            &Customer { id: id("123456789012"), note: "Initech".into() }
        );
        assert_eq!(remove(&added, &id("123456789012")).unwrap(), LOCALS);
        let without_first = remove(LOCALS, &id("305198143522")).unwrap();
        assert_eq!(without_first, LOCALS.replace("    \"305198143522\", # Acme Analytics (pilot)\n", ""));
    }

    #[test]
    fn add_puts_a_comma_after_a_last_element_without_one_and_handles_crlf() {
        let text = "locals {\r\n  customer_account_ids = [\r\n    \"111111111111\" # One\r\n  ]\r\n}\r\n";
        let added = add(text, &id("222222222222"), "Two").unwrap();
        assert!(added.contains("\"111111111111\", # One\r\n"), "{added:?}");
        assert_eq!(
            customers(&added).unwrap().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec!["111111111111", "222222222222"]
        );
        let empty = "locals {\n  customer_account_ids = [\n  ]\n}\n";
        assert_eq!(
            add(empty, &id("222222222222"), "Two").unwrap(),
            "locals {\n  customer_account_ids = [\n    \"222222222222\", # Two\n  ]\n}\n"
        );
    }

    #[test]
    fn refusals_say_why() {
        for (text, phrase) in [
            ("12345678901", "exactly 12 digits"),
            ("1234567890123", "exactly 12 digits"),
            ("12345678901a", "exactly 12 digits"),
            ("", "exactly 12 digits"),
            (" 123456789012", "exactly 12 digits"),
            ("１２３４５６７８９０１２", "exactly 12 digits"),
        ] {
            assert!(AccountId::parse(text).unwrap_err().to_string().contains(phrase), "{text:?}");
        }
        assert!(add(LOCALS, &id("305198143522"), "Again")
            .unwrap_err()
            .to_string()
            .contains("already in customer_account_ids"));
        assert!(add(LOCALS, &id("123456789012"), "  ").unwrap_err().to_string().contains("must name the customer"));
        assert!(add(LOCALS, &id("123456789012"), "a\nb").unwrap_err().to_string().contains("one line"));
        assert!(remove(LOCALS, &id("123456789012")).unwrap_err().to_string().contains("not in customer_account_ids"));
        let crowded = "locals {\n  customer_account_ids = [\"111111111111\", \"222222222222\"]\n}\n";
        assert!(remove(crowded, &id("111111111111")).unwrap_err().to_string().contains("one ID per line"));
        assert!(add(crowded, &id("333333333333"), "x").unwrap_err().to_string().contains("one ID per line"));
        let mentioned_in_comment =
            LOCALS.replace("# ReadySet's own accounts", "# not 123456789012: ReadySet's own accounts");
        assert!(remove(&mentioned_in_comment, &id("123456789012")).is_err(), "a comment is never taken for an ID");
    }
}
