//! Caps on label values that come from data (clients, providers, models, buckets, cron jobs, the
//! guard's switch targets): the heaviest values keep their own label and the rest are merged
//! into one `other`, so a ledger with 20,000 model names still makes a bounded number of series.
//! The choice is stable (by weight, ties by the value itself), so unchanged figures label the
//! same values at every snapshot and series do not flap between scrapes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// The label value that collects everything past a cap.
pub const OTHER: &str = "other";

/// Which values keep their own label under one cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept<K: Ord> {
    kept: BTreeSet<K>,
    /// Distinct values past the cap (they go to `other`).
    pub folded: usize,
}

impl<K: Ord> Kept<K> {
    /// The `cap` heaviest keys of `weights`, ties broken by the smaller key. A key given more
    /// than once counts with its largest weight.
    pub fn choose<W: Ord>(weights: impl IntoIterator<Item = (K, W)>, cap: usize) -> Self {
        let mut unique: BTreeMap<K, W> = BTreeMap::new();
        for (k, w) in weights {
            match unique.get_mut(&k) {
                Some(old) if *old >= w => {}
                Some(old) => *old = w,
                None => {
                    unique.insert(k, w);
                }
            }
        }
        let total = unique.len();
        let mut ranked: Vec<(K, W)> = unique.into_iter().collect();
        // Keys are unique, so this order is total: the same input always keeps the same keys.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(cap);
        Kept {
            folded: total - ranked.len(),
            kept: ranked.into_iter().map(|(k, _)| k).collect(),
        }
    }

    pub fn keeps(&self, k: &K) -> bool {
        self.kept.contains(k)
    }

    /// How many keys keep their own label.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

/// Merges `values` per label: `label` gives each key its label (its own, or an `other`),
/// `merge` adds a value into its label's. The first value of a label is taken as is.
pub fn group<K, L: Ord, V>(
    values: impl IntoIterator<Item = (K, V)>,
    label: impl Fn(&K) -> L,
    mut merge: impl FnMut(&mut V, V),
) -> BTreeMap<L, V> {
    let mut out: BTreeMap<L, V> = BTreeMap::new();
    for (k, v) in values {
        let l = label(&k);
        match out.get_mut(&l) {
            Some(acc) => merge(acc, v),
            None => {
                out.insert(l, v);
            }
        }
    }
    out
}

/// One label capped: values per label (at most `cap` own labels plus `other`) and how many
/// distinct keys were folded.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded<K, V> {
    pub values: BTreeMap<K, V>,
    pub folded: usize,
}

/// Caps one label: the `cap` keys with the largest `weight` keep their label, the values of
/// the rest are merged under `other`. Values of a repeated key are merged into one first.
pub fn fold<K: Ord + Clone, V, W: Ord>(
    values: impl IntoIterator<Item = (K, V)>,
    cap: usize,
    other: K,
    weight: impl Fn(&V) -> W,
    mut merge: impl FnMut(&mut V, V),
) -> Folded<K, V> {
    let per_key = group(values, K::clone, &mut merge);
    let kept = Kept::choose(per_key.iter().map(|(k, v)| (k, weight(v))), cap);
    let own: BTreeSet<K> = per_key.keys().filter(|k| kept.keeps(k)).cloned().collect();
    let folded = kept.folded;
    let values = group(
        per_key,
        |k| {
            if own.contains(k) {
                k.clone()
            } else {
                other.clone()
            }
        },
        merge,
    );
    Folded { values, folded }
}

/// An `f64` weight in a total order (NaN above every number, so a broken figure stays
/// visible rather than folded away).
#[derive(Debug, Clone, Copy)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Float {}
impl PartialOrd for Float {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Float {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    fn add(a: &mut Decimal, b: Decimal) {
        *a = a.saturating_add(b);
    }

    fn money(pairs: &[(&str, Decimal)]) -> Vec<(String, Decimal)> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_heaviest_keep_their_label_and_ties_go_by_name() {
        let k = Kept::choose([("b", 2), ("a", 2), ("c", 3), ("d", 1)], 2);
        assert!(k.keeps(&"c") && k.keeps(&"a"));
        assert!(!k.keeps(&"b") && !k.keeps(&"d"));
        assert_eq!((k.len(), k.folded), (2, 2));
    }

    #[test]
    fn the_choice_does_not_depend_on_input_order() {
        let mut items: Vec<(String, u64)> = (0..200).map(|i| (format!("m{i:03}"), i % 7)).collect();
        let first = Kept::choose(items.clone(), 20);
        for shift in [1, 17, 99] {
            items.rotate_left(shift);
            assert_eq!(Kept::choose(items.clone(), 20), first);
            items.reverse();
            assert_eq!(Kept::choose(items.clone(), 20), first);
        }
        // Weight 6: m006, m013, ... 29 of them; the 20 smallest names keep their label.
        let want: BTreeSet<String> = (0..200)
            .filter(|i| i % 7 == 6)
            .take(20)
            .map(|i| format!("m{i:03}"))
            .collect();
        assert!(want.iter().all(|k| first.keeps(k)));
    }

    #[test]
    fn repeated_keys_count_once_with_their_largest_weight() {
        let k = Kept::choose([("a", 1), ("b", 5), ("a", 9)], 1);
        assert!(k.keeps(&"a"));
        assert_eq!(k.folded, 1);
    }

    #[test]
    fn sums_into_other_are_exact() {
        // 0.1 + 0.2 is not 0.3 in floating point; in Decimal it is.
        let f = fold(
            money(&[
                ("big", dec!(10)),
                ("x", dec!(0.1)),
                ("y", dec!(0.2)),
                ("z", dec!(0.000001)),
            ]),
            1,
            OTHER.to_string(),
            |v| *v,
            add,
        );
        assert_eq!(f.values["big"], dec!(10));
        assert_eq!(f.values[OTHER], dec!(0.300001));
        assert_eq!(f.folded, 3);
        // Many small amounts: the total over labels is the unfolded total, to the last digit.
        let items: Vec<(String, Decimal)> = (1..=20_000)
            .map(|i| (format!("m{i}"), Decimal::new(i, 6)))
            .collect();
        let total: Decimal = items.iter().map(|(_, v)| *v).sum();
        let f = fold(items, 50, OTHER.to_string(), |v| *v, add);
        assert_eq!(f.values.len(), 51);
        assert_eq!(f.values.values().copied().sum::<Decimal>(), total);
        assert_eq!(f.folded, 20_000 - 50);
    }

    #[test]
    fn repeated_keys_are_merged_before_the_choice() {
        // "a" twice (3 in all) outweighs "b" (2).
        let f = fold(
            money(&[("a", dec!(1.5)), ("b", dec!(2)), ("a", dec!(1.5))]),
            1,
            OTHER.to_string(),
            |v| *v,
            add,
        );
        assert_eq!(f.values["a"], dec!(3.0));
        assert_eq!(f.values[OTHER], dec!(2));
        assert_eq!(f.folded, 1);
    }

    #[test]
    fn cap_zero_folds_everything_and_cap_one_keeps_one() {
        let items = money(&[("a", dec!(1)), ("b", dec!(2)), ("c", dec!(3))]);
        let zero = fold(items.clone(), 0, OTHER.to_string(), |v| *v, add);
        assert_eq!(zero.values.len(), 1);
        assert_eq!(zero.values[OTHER], dec!(6));
        assert_eq!(zero.folded, 3);
        let one = fold(items.clone(), 1, OTHER.to_string(), |v| *v, add);
        assert_eq!(one.values.len(), 2);
        assert_eq!((one.values["c"], one.values[OTHER]), (dec!(3), dec!(3)));
        assert_eq!(one.folded, 2);
        // At or above the number of keys nothing is folded and no `other` appears.
        let all = fold(items, 3, OTHER.to_string(), |v| *v, add);
        assert_eq!(all.values.len(), 3);
        assert!(!all.values.contains_key(OTHER));
        assert_eq!(all.folded, 0);
        let none = fold(
            Vec::<(String, Decimal)>::new(),
            0,
            OTHER.to_string(),
            |v| *v,
            add,
        );
        assert!(none.values.is_empty());
        assert_eq!(none.folded, 0);
    }

    #[test]
    fn a_kept_value_named_other_shares_the_label() {
        // A real value named like the fold label adds into it: totals stay exact.
        let f = fold(
            money(&[("other", dec!(5)), ("a", dec!(1)), ("b", dec!(0.5))]),
            1,
            OTHER.to_string(),
            |v| *v,
            add,
        );
        assert_eq!(f.values.len(), 1);
        assert_eq!(f.values[OTHER], dec!(6.5));
    }

    #[test]
    fn float_weights_are_totally_ordered() {
        let k = Kept::choose(
            [("a", Float(0.5)), ("b", Float(f64::NAN)), ("c", Float(0.9))],
            2,
        );
        assert!(k.keeps(&"b") && k.keeps(&"c"));
        let mut v = [Float(1.0), Float(-0.0), Float(0.0), Float(f64::NAN)];
        v.sort();
        assert!(v[3].0.is_nan());
    }
}
