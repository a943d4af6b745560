//! Reconciliation finds exactly the differences put into a day, class by class, and nothing
//! else; cut-off items held on one date clear by themselves on the next; the outcome does not
//! depend on the order of the inputs.

use std::collections::BTreeSet;

use proptest::prelude::*;
use suanpan_recon::workload::{self, KINDS};
use suanpan_recon::{
    reconcile, BillLine, BillStatus, Booking, Class, DateEnd, Key, Options, PlatformItem,
};

/// 2026-12-05 in Beijing: its start and end, Unix milliseconds.
const START: u64 = 1_796_400_000_000;
const END: u64 = START + 86_400_000;

/// A day's records with its bill's lines collected, and what must be found.
struct Day {
    bill: Vec<BillLine>,
    platform: Vec<PlatformItem>,
    booked: Vec<Booking>,
    expected: BTreeSet<(Key, Class)>,
    next_bill: Vec<BillLine>,
    next_platform: Vec<PlatformItem>,
    next_booked: Vec<Booking>,
}

fn day(orders: &[(u64, u64, usize)]) -> Day {
    let mut bill = Vec::new();
    let d = workload::day(orders.iter().copied(), END, |line| bill.push(line));
    Day {
        bill,
        platform: d.platform,
        booked: d.booked,
        expected: d.expected.into_iter().collect(),
        next_bill: d.next_bill,
        next_platform: d.next_platform,
        next_booked: d.next_booked,
    }
}

fn found(outcome: &suanpan_recon::Outcome) -> BTreeSet<(Key, Class)> {
    outcome
        .items
        .iter()
        .filter(|i| i.class != Class::Matched)
        .map(|i| (i.key, i.class))
        .collect()
}

fn orders() -> impl Strategy<Value = Vec<(u64, u64, usize)>> {
    // Most orders untouched, every kind of difference likely in a day.
    prop::collection::vec(
        (
            1u64..5_000_000,
            0u64..86_400_000,
            prop_oneof![3 => Just(0usize), 2 => 1usize..KINDS.len()],
        ),
        1..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn exactly_the_injected_differences_are_found(orders in orders()) {
        let d = day(&orders);
        let options = Options::default();
        let first = reconcile(d.bill.clone(), d.platform.clone(), d.booked.clone(), &[], DateEnd(END), &options);
        prop_assert_eq!(found(&first), d.expected.clone());
        // Every key counted once, in one class: the totals add up to the keys seen, plus
        // the repeated lines.
        let keys: BTreeSet<Key> = d.bill.iter().map(|l| l.key)
            .chain(d.platform.iter().filter(|p| p.done).map(|p| p.key))
            .chain(d.booked.iter().map(|b| b.key))
            .collect();
        let duplicates = d.expected.iter().filter(|(_, c)| *c == Class::Duplicate).count() as u64;
        let counted: u64 = Class::ALL.iter().map(|&c| first.totals_of(c).count).sum();
        prop_assert_eq!(counted, keys.len() as u64 + duplicates);
        // The bill's every line is in some class: the classes' bill sums are the bill's.
        let bill_total: u64 = d.bill.iter().map(|l| l.amount_fen).sum();
        let classed: u64 = Class::ALL.iter().map(|&c| first.totals_of(c).bill_fen).sum();
        prop_assert_eq!(classed, bill_total);

        // The next date brings the cut-off items' other sides: each held item clears by
        // itself, late, and nothing else is found.
        let held = d.expected.iter().filter(|(_, c)| *c == Class::Pending).count();
        prop_assert_eq!(first.carried.len(), held);
        let next_end = DateEnd(END + 86_400_000);
        let second = reconcile(d.next_bill.clone(), d.next_platform.clone(), d.next_booked.clone(), &first.carried, next_end, &options);
        prop_assert!(found(&second).is_empty(), "{:?}", found(&second));
        prop_assert_eq!(second.items.iter().filter(|i| i.late && i.class == Class::Matched).count(), held);
        prop_assert!(second.carried.is_empty());

        // A next date without them: each held item takes its class (one date held).
        let alone = reconcile(Vec::new(), Vec::new(), Vec::new(), &first.carried, next_end, &options);
        for item in &alone.items {
            prop_assert!(matches!(item.class, Class::Short | Class::Long), "{:?}", item);
        }
        prop_assert_eq!(alone.items.len(), held);
    }

    #[test]
    fn the_outcome_does_not_depend_on_the_order_of_the_inputs(orders in orders(), seed in any::<u64>()) {
        let d = day(&orders);
        let options = Options::default();
        let first = reconcile(d.bill.clone(), d.platform.clone(), d.booked.clone(), &[], DateEnd(END), &options);
        let shuffle = |n: usize| -> Vec<usize> {
            let mut ix: Vec<usize> = (0..n).collect();
            let mut s = seed | 1;
            for i in (1..n).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                ix.swap(i, (s % (i as u64 + 1)) as usize);
            }
            ix
        };
        let bill: Vec<BillLine> = shuffle(d.bill.len()).into_iter().map(|i| d.bill[i].clone()).collect();
        let platform: Vec<PlatformItem> = shuffle(d.platform.len()).into_iter().map(|i| d.platform[i].clone()).collect();
        let booked: Vec<Booking> = shuffle(d.booked.len()).into_iter().map(|i| d.booked[i]).collect();
        let again = reconcile(bill, platform, booked, &[], DateEnd(END), &options);
        prop_assert_eq!(first, again);
    }
}

#[test]
fn a_refund_made_at_the_channel_is_a_status_mismatch_of_its_paid_order() {
    let paid = PlatformItem {
        key: Key::Payment(5),
        order_id: 5,
        amount_fen: 1000,
        fee_fen: 6,
        done: true,
        refunded: false,
        at_ms: START + 1000,
    };
    let refund_line = BillLine {
        line: 2,
        key: Key::Refund(77),
        order_id: 5,
        amount_fen: 1000,
        fee_fen: 6,
        status: BillStatus::Success,
        completed_ms: START + 5000,
    };
    let booked = [Booking {
        key: Key::Payment(5),
        amount_fen: 1000,
    }];
    let outcome = reconcile(
        vec![refund_line],
        vec![paid],
        booked.to_vec(),
        &[],
        DateEnd(END),
        &Options::default(),
    );
    let classes: Vec<(Key, Class)> = outcome.items.iter().map(|i| (i.key, i.class)).collect();
    // The refund is the channel's alone; the payment itself is not on this bill (paid on an
    // earlier date's), so it is also 短款 here.
    assert_eq!(
        classes,
        vec![
            (Key::Payment(5), Class::Short),
            (Key::Refund(77), Class::StatusMismatch)
        ]
    );
}
