//! The unified diffs the xtask shows before it changes a file or an object.
//!
//! Written here rather than taken from a diff crate: the lean xtask must build in
//! seconds, and a line diff of a few hundred lines needs no more than this.

/// Lines of unchanged text shown around each change, as `diff -U1` does.
const CONTEXT: usize = 1;

/// Above this many line pairs the changed middle is shown as removed and added whole
/// rather than aligned: still a correct diff, and it bounds the memory a diff takes.
const MAX_ALIGNED_PAIRS: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Keep,
    Remove,
    Add,
}

/// `old` and `new` as `diff -u` shows them, with one line of context; empty when equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let (old_lines, new_lines) = (lines(old), lines(new));
    let ops = edit_script(&old_lines, &new_lines);
    let mut out = String::new();
    for hunk in hunks(&ops) {
        if out.is_empty() {
            out = format!("--- {old_label}\n+++ {new_label}\n");
        }
        render(&mut out, &ops[hunk.clone()], position(&ops[..hunk.start]), &old_lines, &new_lines);
    }
    out
}

/// Lines with their terminators, so a last line without one can be told apart.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A shortest edit script, one op per line; the removals of a change come before its
/// additions, as `diff -u` prints them.
fn edit_script(old: &[&str], new: &[&str]) -> Vec<Op> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let (old_middle, new_middle) = (&old[prefix..old.len() - suffix], &new[prefix..new.len() - suffix]);
    let mut ops = vec![Op::Keep; prefix];
    ops.extend(align(old_middle, new_middle));
    ops.extend(std::iter::repeat_n(Op::Keep, suffix));
    removals_first(&mut ops);
    ops
}

/// Aligns two line lists by their longest common subsequence.
fn align(old: &[&str], new: &[&str]) -> Vec<Op> {
    let (n, m) = (old.len(), new.len());
    if (n + 1).saturating_mul(m + 1) > MAX_ALIGNED_PAIRS {
        return [vec![Op::Remove; n], vec![Op::Add; m]].concat();
    }
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let width = m + 1;
    let mut common = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i * width + j] = if old[i] == new[j] {
                common[(i + 1) * width + j + 1] + 1
            } else {
                common[(i + 1) * width + j].max(common[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::with_capacity(n + m));
    while i < n || j < m {
        let op = if i < n && j < m && old[i] == new[j] {
            Op::Keep
        } else if j == m || (i < n && common[(i + 1) * width + j] >= common[i * width + j + 1]) {
            Op::Remove
        } else {
            Op::Add
        };
        i += usize::from(op != Op::Add);
        j += usize::from(op != Op::Remove);
        ops.push(op);
    }
    ops
}

/// Within each run of changes, puts the removals before the additions.
fn removals_first(ops: &mut [Op]) {
    for run in ops.split_mut(|op| *op == Op::Keep) {
        run.sort_by_key(|op| *op == Op::Add);
    }
}

/// The op ranges of the hunks: each change with its context, merged with the next
/// change when no more than twice the context lies between them.
fn hunks(ops: &[Op]) -> Vec<std::ops::Range<usize>> {
    let mut hunks: Vec<std::ops::Range<usize>> = Vec::new();
    for (index, _) in ops.iter().enumerate().filter(|(_, op)| **op != Op::Keep) {
        let range = index.saturating_sub(CONTEXT)..(index + 1 + CONTEXT).min(ops.len());
        match hunks.last_mut() {
            Some(last) if range.start <= last.end => last.end = range.end,
            _ => hunks.push(range),
        }
    }
    hunks
}

/// How many old lines and new lines these ops cover.
fn position(ops: &[Op]) -> (usize, usize) {
    let old = ops.iter().filter(|op| **op != Op::Add).count();
    let new = ops.iter().filter(|op| **op != Op::Remove).count();
    (old, new)
}

fn render(out: &mut String, hunk: &[Op], (old_at, new_at): (usize, usize), old: &[&str], new: &[&str]) {
    let (old_len, new_len) = position(hunk);
    out.push_str(&format!("@@ -{} +{} @@\n", range(old_at, old_len), range(new_at, new_len)));
    let (mut i, mut j) = (old_at, new_at);
    for op in hunk {
        let (sign, line) = match op {
            Op::Keep => (' ', old[i]),
            Op::Remove => ('-', old[i]),
            Op::Add => ('+', new[j]),
        };
        i += usize::from(*op != Op::Add);
        j += usize::from(*op != Op::Remove);
        out.push(sign);
        out.push_str(line);
        if !line.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
}

/// A hunk's line range as `diff -u` writes it: `start,length`, the length left out when
/// it is one, and an empty range starting at the line before it.
fn range(before: usize, length: usize) -> String {
    match length {
        0 => format!("{before},0"),
        1 => format!("{}", before + 1),
        _ => format!("{},{length}", before + 1),
    }
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

    #[test]
    fn a_change_too_large_to_align_is_shown_removed_and_added_whole() {
        let old: String = (0..5000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..5000).map(|i| format!("b{i}\n")).collect();
        let diff = unified(&old, &new, "a", "b");
        assert!(diff.starts_with("--- a\n+++ b\n@@ -1,5000 +1,5000 @@\n-a0\n"), "{}", &diff[..40]);
        assert_eq!(apply(&old, &diff), new);
    }

    /// Against a well-known implementation: the same hunks, whichever of several equally
    /// short alignments each picks, so the lines removed and added are compared per hunk
    /// header and as counts.
    #[test]
    fn agrees_with_similar_on_generated_edits() {
        let mut seed = 0x2545_f491_u64;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..500 {
            let old: String = (0..next(12)).map(|_| format!("{}\n", next(4))).collect();
            let new: String = (0..next(12)).map(|_| format!("{}\n", next(4))).collect();
            let ours = unified(&old, &new, "a", "b");
            let theirs =
                similar::TextDiff::from_lines(&old, &new).unified_diff().context_radius(1).header("a", "b").to_string();
            let count = |diff: &str, sign: char| diff.lines().filter(|l| l.starts_with(sign)).count();
            assert_eq!(ours.is_empty(), theirs.is_empty(), "{old:?} -> {new:?}");
            assert_eq!(count(&ours, '-'), count(&theirs, '-'), "{old:?} -> {new:?}:\n{ours}\n{theirs}");
            assert_eq!(count(&ours, '+'), count(&theirs, '+'), "{old:?} -> {new:?}:\n{ours}\n{theirs}");
            assert_eq!(apply(&old, &ours), new, "{old:?} -> {new:?}:\n{ours}");
        }
    }

    /// Rebuilds the new text from the old and a diff, to prove the diff says all of it;
    /// checks each hunk header's lengths against the lines below it on the way.
    fn apply(old: &str, diff: &str) -> String {
        let old: Vec<&str> = old.split_inclusive('\n').collect();
        let (mut out, mut at) = (String::new(), 0);
        for hunk in diff.split("\n@@ ").skip(1) {
            let ranges: Vec<(usize, usize)> = hunk.split(" @@").next().unwrap().split(' ').map(range).collect();
            let body = |signs: &str| hunk.lines().skip(1).filter(|l| signs.contains(&l[..1])).count();
            assert_eq!((ranges[0].1, ranges[1].1), (body(" -"), body(" +")), "{hunk}");
            let start = if ranges[0].1 == 0 { ranges[0].0 } else { ranges[0].0 - 1 };
            out.extend(old[at..start].iter().copied());
            at = start;
            for line in hunk.lines().skip(1) {
                match line.split_at(1) {
                    (" ", text) => {
                        out.push_str(text);
                        out.push('\n');
                        at += 1;
                    }
                    ("-", _) => at += 1,
                    ("+", text) => {
                        out.push_str(text);
                        out.push('\n');
                    }
                    _ => {}
                }
            }
        }
        out.extend(old[at..].iter().copied());
        out
    }

    /// `-4,3`, `+5` or `-0,0` as (start, length).
    fn range(text: &str) -> (usize, usize) {
        let mut parts = text[1..].split(',').map(|n| n.parse::<usize>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap_or(1))
    }
}
