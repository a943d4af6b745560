//! Three-way matching: a channel's bill of a date ↔ the gateway's orders and refunds of that
//! date ↔ the ledger's bookings of them. Every key (a payment of an order, or a refund) that
//! any side has ends in exactly one [`Class`]; a line the bill repeats is a
//! [`Class::Duplicate`] of its own.
//!
//! The rules, for a key, with `b` the bill's line, `p` the platform's record and `k` its
//! booking (all optional):
//!
//! | bill | platform | booked | class |
//! |---|---|---|---|
//! | b | done | none | in the gateway, not booked |
//! | b | done | other amount | amount mismatch (the books) |
//! | b | done | = p | amount, then status (refunded at the channel), then fee mismatch; else matched |
//! | b | not done | none | 长款 (the order exists; its result never reached the platform) |
//! | any | not done or none | some | booked, not in the gateway |
//! | b (a refund) | none, its order paid | none | status mismatch (refunded at the channel) |
//! | b | none | none | 长款 |
//! | none | done | = p | 短款 |
//! | none | done | none | in the gateway, not booked |
//!
//! **Cut-off timing.** A 长款 completed by the channel, or a 短款 done by the platform, within
//! `cutoff_window_ms` of the date's end is held [`Class::Pending`]: the other side may
//! record it on the next date (a payment at 23:59:59 is on the channel's next bill). A held
//! item is carried into the next run ([`Carried`]); a run whose data carries its partner
//! matches it there ([`Item::late`]); one still alone after `pending_days` takes its class.
//!
//! Pure and deterministic: the same inputs give the same outcome, whatever their order, so a
//! rerun of a date (or a republished bill) gives the same classes.

use crate::bill::{BillLine, BillStatus, Key};

/// The platform's record of a key: the gateway's order (for a payment) or refund.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlatformItem {
    pub key: Key,
    pub order_id: u64,
    pub amount_fen: u64,
    /// The fee agreed with the channel for it (returned on a refund where the channel returns
    /// fees), as the platform books it.
    pub fee_fen: u64,
    /// Paid (a payment) or refunded (a refund), as far as the platform knows.
    pub done: bool,
    /// A payment of which the platform has refunded something.
    pub refunded: bool,
    /// When it was done (or created, if it is not), Unix milliseconds.
    pub at_ms: u64,
}

/// The ledger's booking of a key: its amount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Booking {
    pub key: Key,
    pub amount_fen: u64,
}

/// Every class an item can end in.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Class {
    Matched,
    /// 长款: the channel has it, the platform does not.
    Long,
    /// 短款: the platform has it, the channel does not.
    Short,
    AmountMismatch,
    StatusMismatch,
    FeeMismatch,
    /// The ledger booked it; the gateway does not have it as done.
    BookedNotInGateway,
    /// The gateway has it done; the ledger has no booking of it.
    InGatewayNotBooked,
    /// A line the bill repeats.
    Duplicate,
    /// Possibly cut-off timing: held for the next date's data.
    Pending,
}

impl Class {
    pub const ALL: [Class; 10] = [
        Class::Matched,
        Class::Long,
        Class::Short,
        Class::AmountMismatch,
        Class::StatusMismatch,
        Class::FeeMismatch,
        Class::BookedNotInGateway,
        Class::InGatewayNotBooked,
        Class::Duplicate,
        Class::Pending,
    ];

    /// The stable name in reports, the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Matched => "matched",
            Class::Long => "long",
            Class::Short => "short",
            Class::AmountMismatch => "amount_mismatch",
            Class::StatusMismatch => "status_mismatch",
            Class::FeeMismatch => "fee_mismatch",
            Class::BookedNotInGateway => "booked_not_in_gateway",
            Class::InGatewayNotBooked => "in_gateway_not_booked",
            Class::Duplicate => "duplicate",
            Class::Pending => "pending",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// An item held [`Class::Pending`] by an earlier run, given to the next.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Carried {
    pub side: CarriedSide,
    /// Dates it has been held so far (1 after the date it was first seen).
    pub days_held: u32,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CarriedSide {
    /// A bill's line the platform did not have yet.
    Bill(BillLine),
    /// A platform's record (booked for this amount) the bill did not have yet.
    Platform(PlatformItem, Option<u64>),
}

impl Carried {
    pub fn key(&self) -> Key {
        match &self.side {
            CarriedSide::Bill(line) => line.key,
            CarriedSide::Platform(item, _) => item.key,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Options {
    /// Dates a cut-off candidate is held before it takes its class (default 1).
    pub pending_days: u32,
    /// How close to the date's end an item must be to be a cut-off candidate.
    pub cutoff_window_ms: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            pending_days: 1,
            cutoff_window_ms: 10 * 60 * 1000,
        }
    }
}

/// One key's (or one repeated line's) class with its evidence. Matched keys are only
/// counted, unless matched late (a carried item's partner arrived).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Item {
    pub key: Key,
    pub class: Class,
    pub bill: Option<BillLine>,
    pub platform: Option<PlatformItem>,
    pub booked_fen: Option<u64>,
    /// Its bill line or platform record was carried from an earlier date.
    pub late: bool,
}

/// Count and sums of one class.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ClassTotals {
    pub count: u64,
    /// The bill's amounts of the class's items (where the bill has them).
    pub bill_fen: u64,
    /// The platform's amounts of the class's items (where the platform has them).
    pub platform_fen: u64,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Outcome {
    /// Every item not plainly matched, by key (a duplicate after its key's own item).
    pub items: Vec<Item>,
    /// What the next run must be given.
    pub carried: Vec<Carried>,
    /// Indexed as [`Class::ALL`].
    pub totals: [ClassTotals; 10],
}

impl Outcome {
    pub fn totals_of(&self, class: Class) -> ClassTotals {
        self.totals[class.index()]
    }

    /// Items that are differences (neither matched nor held pending).
    pub fn differences(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| !matches!(i.class, Class::Matched | Class::Pending))
    }
}

/// The date being reconciled: its end, Unix milliseconds (exclusive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DateEnd(pub u64);

/// Matches one channel's bill of a date against the platform's records and bookings of that
/// date, with the items earlier runs held. Takes the records to sort them in place: a date can
/// have tens of millions of them, and copies or side indexes would double the memory.
pub fn reconcile(
    mut bill: Vec<BillLine>,
    mut platform: Vec<PlatformItem>,
    mut booked: Vec<Booking>,
    carried: &[Carried],
    end: DateEnd,
    options: &Options,
) -> Outcome {
    // Repeated lines in file order: the first is the key's line, the rest duplicates.
    bill.sort_unstable_by_key(|l| (l.key.packed(), l.line));
    platform.sort_unstable_by_key(|p| p.key.packed());
    booked.sort_unstable_by_key(|b| b.key.packed());
    let mut c_ix: Vec<(u128, usize)> = carried
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key().packed(), i))
        .collect();
    c_ix.sort_unstable();

    let order_paid = |order_id: u64| -> bool {
        let key = Key::Payment(order_id).packed();
        let at = platform.partition_point(|p| p.key.packed() < key);
        platform
            .get(at)
            .is_some_and(|p| p.key.packed() == key && p.done)
    };

    let mut out = Outcome::default();
    let (mut bi, mut pi, mut ki, mut ci) = (0, 0, 0, 0);
    loop {
        let next = [
            bill.get(bi).map(|l| l.key.packed()),
            platform.get(pi).map(|p| p.key.packed()),
            booked.get(ki).map(|b| b.key.packed()),
            c_ix.get(ci).map(|e| e.0),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(key) = next else { break };
        let lines = run(&bill, &mut bi, key, |l| l.key.packed());
        let plats = run(&platform, &mut pi, key, |p| p.key.packed());
        let books = run(&booked, &mut ki, key, |b| b.key.packed());
        let carries: Vec<usize> = run(&c_ix, &mut ci, key, |e| e.0)
            .map(|i| c_ix[i].1)
            .collect();

        let mut held: Option<&Carried> = None;
        let mut carried_line: Option<&BillLine> = None;
        let mut carried_plat: Option<(&PlatformItem, Option<u64>)> = None;
        for &c in &carries {
            held = Some(&carried[c]);
            match &carried[c].side {
                CarriedSide::Bill(line) => carried_line = Some(line),
                CarriedSide::Platform(item, booked) => carried_plat = Some((item, *booked)),
            }
        }
        let line = bill[lines.clone()].first().or(carried_line);
        let booked_now = booked[books].first().map(|b| b.amount_fen);
        let (plat, booking) = match (platform[plats].first(), carried_plat) {
            (Some(p), _) => (Some(p), booked_now),
            (None, Some((item, booked_fen))) => (Some(item), booked_now.or(booked_fen)),
            (None, None) => (None, booked_now),
        };
        let late = held.is_some();
        let days_held = held.map_or(0, |c| c.days_held);
        let near_end = |at_ms: u64| at_ms < end.0 && end.0 - at_ms <= options.cutoff_window_ms;
        // A cut-off candidate: held if new and near the date's end, or carried and not yet
        // held long enough.
        let hold = |at_ms: u64| {
            if late {
                days_held < options.pending_days
            } else {
                options.pending_days > 0 && near_end(at_ms)
            }
        };

        let class = match (line, plat) {
            (Some(b), Some(p)) if p.done => Some(match booking {
                None => Class::InGatewayNotBooked,
                Some(k) if k != p.amount_fen => Class::AmountMismatch,
                Some(_) if b.amount_fen != p.amount_fen => Class::AmountMismatch,
                Some(_) if b.status == BillStatus::RefundedAtChannel && !p.refunded => {
                    Class::StatusMismatch
                }
                Some(_) if b.fee_fen != p.fee_fen => Class::FeeMismatch,
                Some(_) => Class::Matched,
            }),
            (_, p) if booking.is_some() && !p.is_some_and(|p| p.done) => {
                Some(Class::BookedNotInGateway)
            }
            (Some(_), Some(_)) => Some(Class::Long),
            (Some(b), None) => Some(match b.key {
                Key::Refund(_) if order_paid(b.order_id) => Class::StatusMismatch,
                _ if hold(b.completed_ms) => Class::Pending,
                _ => Class::Long,
            }),
            (None, Some(p)) if p.done => Some(if hold(p.at_ms) {
                Class::Pending
            } else {
                Class::Short
            }),
            (None, _) => None,
        };
        if let Some(class) = class {
            if class == Class::Pending {
                // Held from the side that has it: the bill's line, else the platform's.
                let side = line
                    .map(|b| CarriedSide::Bill(b.clone()))
                    .or_else(|| plat.map(|p| CarriedSide::Platform(p.clone(), booking)));
                if let Some(side) = side {
                    out.carried.push(Carried {
                        side,
                        days_held: days_held + 1,
                    });
                }
            }
            let t = &mut out.totals[class.index()];
            t.count += 1;
            t.bill_fen = t.bill_fen.saturating_add(line.map_or(0, |b| b.amount_fen));
            t.platform_fen = t
                .platform_fen
                .saturating_add(plat.map_or(0, |p| p.amount_fen));
            if class != Class::Matched || late {
                out.items.push(Item {
                    key: Key::from_packed(key),
                    class,
                    bill: line.cloned(),
                    platform: plat.cloned(),
                    booked_fen: booking,
                    late,
                });
            }
        }
        for extra in bill[lines].iter().skip(1) {
            let t = &mut out.totals[Class::Duplicate.index()];
            t.count += 1;
            t.bill_fen = t.bill_fen.saturating_add(extra.amount_fen);
            out.items.push(Item {
                key: Key::from_packed(key),
                class: Class::Duplicate,
                bill: Some(extra.clone()),
                platform: None,
                booked_fen: None,
                late: false,
            });
        }
    }
    out
}

/// The run of `key` in a sorted input from `at`, as a range; `at` moves past it.
fn run<T>(
    items: &[T],
    at: &mut usize,
    key: u128,
    key_of: impl Fn(&T) -> u128,
) -> std::ops::Range<usize> {
    let start = *at;
    while *at < items.len() && key_of(&items[*at]) == key {
        *at += 1;
    }
    start..*at
}
