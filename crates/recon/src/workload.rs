//! Days of orders with known differences put in: what the property tests and
//! `suanpan bench recon` reconcile, and the set of (key, class) they must find.

use crate::bill::{BillLine, BillStatus, Key};
use crate::matching::{Booking, Class, PlatformItem};

/// How close to the date's end a cut-off item is put (inside the default window).
pub const WINDOW_MS: u64 = 10 * 60 * 1000;
const DAY_MS: u64 = 86_400_000;

/// What is done to one order's records before matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    Nothing,
    /// The platform never heard of it: no order, no booking.
    LongUnknown,
    /// The order exists, its callback was lost: not done, not booked.
    LongCallbackLost,
    /// The channel's bill lacks it.
    Short,
    Amount,
    /// Refunded at the channel: the bill's payment line says so.
    RefundedAtChannel,
    Fee,
    /// Booked, but the gateway has no order.
    BookedNotInGateway,
    /// The gateway has it done, the ledger has no booking.
    NotBooked,
    /// The bill repeats its line.
    Duplicate,
    /// Paid just before midnight; on the channel's next bill.
    CutOffPlatform,
    /// Completed by the channel just before midnight; the platform records it the next date.
    CutOffBill,
}

pub const KINDS: [Injected; 12] = [
    Injected::Nothing,
    Injected::LongUnknown,
    Injected::LongCallbackLost,
    Injected::Short,
    Injected::Amount,
    Injected::RefundedAtChannel,
    Injected::Fee,
    Injected::BookedNotInGateway,
    Injected::NotBooked,
    Injected::Duplicate,
    Injected::CutOffPlatform,
    Injected::CutOffBill,
];

/// A day's platform records and bookings, what must be found, and the next date's records
/// of the cut-off items (their other side). The bill's lines go to the `bill` callback as
/// they are made, so a day of tens of millions need not hold them twice.
#[derive(Default)]
pub struct Day {
    pub platform: Vec<PlatformItem>,
    pub booked: Vec<Booking>,
    /// (key, class) of every difference and held item put in.
    pub expected: Vec<(Key, Class)>,
    pub next_bill: Vec<BillLine>,
    pub next_platform: Vec<PlatformItem>,
    pub next_booked: Vec<Booking>,
}

/// The date ending (exclusive) at `end_ms`, its orders given as (amount in fen, an offset
/// into the day in ms, the index into [`KINDS`] of what to put in). Order `i` (from 0) has id
/// `i + 1`; the bill's lines are numbered from 2 (after the header).
pub fn day(
    orders: impl IntoIterator<Item = (u64, u64, usize)>,
    end_ms: u64,
    mut bill_line: impl FnMut(BillLine),
) -> Day {
    const START_LINE: u32 = 2;
    let start_ms = end_ms - DAY_MS;
    let mut d = Day::default();
    let mut line_no = START_LINE;
    for (i, (amount, offset_ms, kind)) in orders.into_iter().enumerate() {
        let id = i as u64 + 1;
        let key = Key::Payment(id);
        let fee = amount * 60 / 10_000;
        // Away from midnight unless a cut-off is put in.
        let at = start_ms + offset_ms % (DAY_MS - 2 * WINDOW_MS);
        let kind = KINDS[kind % KINDS.len()];
        let near_end = end_ms - 1 - offset_ms % WINDOW_MS;
        let at = if matches!(kind, Injected::CutOffPlatform | Injected::CutOffBill) {
            near_end
        } else {
            at
        };
        let mut line = BillLine {
            line: line_no,
            key,
            order_id: id,
            amount_fen: amount,
            fee_fen: fee,
            status: BillStatus::Success,
            completed_ms: at,
        };
        line_no += 1;
        let item = PlatformItem {
            key,
            order_id: id,
            amount_fen: amount,
            fee_fen: fee,
            done: true,
            refunded: false,
            at_ms: at,
        };
        let booking = Booking {
            key,
            amount_fen: amount,
        };
        let (mut bill, mut plat, mut book) =
            (Some(line.clone()), Some(item.clone()), Some(booking));
        match kind {
            Injected::Nothing => {}
            Injected::LongUnknown => {
                (plat, book) = (None, None);
                d.expected.push((key, Class::Long));
            }
            Injected::LongCallbackLost => {
                plat = Some(PlatformItem {
                    done: false,
                    ..item
                });
                book = None;
                d.expected.push((key, Class::Long));
            }
            Injected::Short => {
                bill = None;
                d.expected.push((key, Class::Short));
            }
            Injected::Amount => {
                line.amount_fen += 1 + amount % 7;
                bill = Some(line.clone());
                d.expected.push((key, Class::AmountMismatch));
            }
            Injected::RefundedAtChannel => {
                line.status = BillStatus::RefundedAtChannel;
                bill = Some(line.clone());
                d.expected.push((key, Class::StatusMismatch));
            }
            Injected::Fee => {
                line.fee_fen += 1;
                bill = Some(line.clone());
                d.expected.push((key, Class::FeeMismatch));
            }
            Injected::BookedNotInGateway => {
                plat = None;
                d.expected.push((key, Class::BookedNotInGateway));
            }
            Injected::NotBooked => {
                book = None;
                d.expected.push((key, Class::InGatewayNotBooked));
            }
            Injected::Duplicate => {
                bill_line(BillLine {
                    line: line_no,
                    ..line.clone()
                });
                line_no += 1;
                d.expected.push((key, Class::Duplicate));
            }
            Injected::CutOffPlatform => {
                bill = None;
                d.next_bill.push(line.clone());
                d.expected.push((key, Class::Pending));
            }
            Injected::CutOffBill => {
                (plat, book) = (None, None);
                d.next_platform.push(item.clone());
                d.next_booked.push(booking);
                d.expected.push((key, Class::Pending));
            }
        }
        if let Some(line) = bill {
            bill_line(line);
        }
        d.platform.extend(plat);
        d.booked.extend(book);
    }
    d
}
