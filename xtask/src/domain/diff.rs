//! The unified diffs the xtask shows before it changes a file or an object.

/// `old` and `new` as `diff -u` shows them, with one line of context; empty when equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(1).header(old_label, new_label).to_string()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    #[test]
    fn shows_the_changed_line_with_its_neighbours() {
        let diff = super::unified("a\nb\nc\nd\n", "a\nB\nc\nd\n", "a/file", "b/file");
        expect![[r#"
            --- a/file
            +++ b/file
            @@ -1,3 +1,3 @@
             a
            -b
            +B
             c
        "#]]
        .assert_eq(&diff);
        assert_eq!(super::unified("x\n", "x\n", "a", "b"), "");
    }
}
