//! The unified diffs the xtask shows before it changes a file or an object.

/// Lines of unchanged text shown around each change, as `diff -U1` does: enough to find
/// the place in a file of constants or account IDs, short enough to read in a plan.
const CONTEXT: usize = 1;

/// `old` and `new` as `diff -u` shows them, with one line of context; empty when equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::unified;

    #[test]
    fn shows_the_changed_line_with_its_neighbours() {
        let diff = unified("a\nb\nc\nd\n", "a\nB\nc\nd\n", "a/file", "b/file");
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
        assert_eq!(unified("x\n", "x\n", "a", "b"), "");
        assert_eq!(unified("", "", "a", "b"), "");
    }

    #[test]
    fn separates_changes_more_than_two_lines_apart_and_marks_a_missing_newline() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9";
        let new = "0\n1\n2\n3\n4\n6\n7\n8\n9\n";
        expect![[r#"
            --- old
            +++ new
            @@ -1 +1,2 @@
            +0
             1
            @@ -4,3 +5,2 @@
             4
            -5
             6
            @@ -8,2 +8,2 @@
             8
            -9
            \ No newline at end of file
            +9
        "#]]
        .assert_eq(&unified(old, new, "old", "new"));
        expect![[r#"
            --- old
            +++ new
            @@ -1,2 +1 @@
            -a
            -b
            +c
        "#]]
        .assert_eq(&unified("a\nb\n", "c\n", "old", "new"));
        expect![[r#"
            --- old
            +++ new
            @@ -1,5 +1,5 @@
             a
            -b
            +B
             c
            -d
            +D
             e
        "#]]
        .assert_eq(&unified("a\nb\nc\nd\ne\nf\n", "a\nB\nc\nD\ne\nf\n", "old", "new"));
    }
}
