//! Line-oriented text comparison with a readable diff on mismatch.

/// Above this many LCS cells, fall back to a plain before/after dump.
const MAX_LCS_CELLS: usize = 4_000_000;
/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// Shows invisible trouble (CR, tabs, trailing spaces) explicitly.
fn show(line: &str) -> String {
    if line.chars().any(|c| c.is_control()) || line.ends_with(' ') {
        format!("{line:?}  (escaped)")
    } else {
        line.to_string()
    }
}

fn lcs_diff<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let (n, m) = (a.len(), b.len());
    // table[i][j] = LCS length of a[i..] and b[j..]
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let idx = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[idx(i, j)] = if a[i] == b[j] {
                table[idx(i + 1, j + 1)] + 1
            } else {
                table[idx(i + 1, j)].max(table[idx(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::new();
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if table[idx(i + 1, j)] >= table[idx(i, j + 1)] {
            ops.push(Op::Del(a[i]));
            i += 1;
        } else {
            ops.push(Op::Add(b[j]));
            j += 1;
        }
    }
    ops.extend(a[i..].iter().map(|l| Op::Del(l)));
    ops.extend(b[j..].iter().map(|l| Op::Add(l)));
    ops
}

fn render(ops: &[Op<'_>]) -> String {
    let changed: Vec<bool> = ops.iter().map(|o| !matches!(o, Op::Same(_))).collect();
    let near_change = |k: usize| {
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + CONTEXT + 1).min(ops.len());
        changed[lo..hi].iter().any(|&c| c)
    };
    let mut out = String::new();
    let mut skipped = 0usize;
    for (k, op) in ops.iter().enumerate() {
        if !near_change(k) {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push_str(&format!("@@ {skipped} unchanged line(s) @@\n"));
            skipped = 0;
        }
        match op {
            Op::Same(l) => out.push_str(&format!("  {}\n", show(l))),
            Op::Del(l) => out.push_str(&format!("- {}\n", show(l))),
            Op::Add(l) => out.push_str(&format!("+ {}\n", show(l))),
        }
    }
    if skipped > 0 {
        out.push_str(&format!("@@ {skipped} unchanged line(s) @@\n"));
    }
    out
}

/// Compares `expected` and `actual` line by line (a single trailing newline is not
/// significant). On mismatch panics with a diff: `-` lines only in expected, `+`
/// lines only in actual; `what` says what was being compared.
pub fn assert_lines_eq(expected: &str, actual: &str, what: &str) {
    let a: Vec<&str> = expected.split_terminator('\n').collect();
    let b: Vec<&str> = actual.split_terminator('\n').collect();
    if a == b {
        return;
    }
    let body = if (a.len() + 1).saturating_mul(b.len() + 1) <= MAX_LCS_CELLS {
        render(&lcs_diff(&a, &b))
    } else {
        let mut s = String::from("(too large for a line diff)\n");
        s.extend(a.iter().map(|l| format!("- {}\n", show(l))));
        s.extend(b.iter().map(|l| format!("+ {}\n", show(l))));
        s
    };
    panic!(
        "{what}: lines differ (expected {} line(s), actual {})\n--- expected\n+++ actual\n{body}",
        a.len(),
        b.len()
    );
}
