use proptest::prelude::*;

use super::*;
use crate::consent::{Access, Party};

const HOUR_NS: u64 = 3_600_000_000_000;
/// 2026-12-06 00:00 in Shanghai.
const START_NS: u64 = 1_796_572_800_000_000_000 - 24 * HOUR_NS;
const BANK: u64 = 1;
const ACCOUNTS: [u128; 4] = [100, 101, 102, 103];

#[allow(clippy::too_many_arguments)]
fn request(
    tp: u64,
    customer: &str,
    n: u32,
    accounts: Vec<u128>,
    access: Access,
    valid_days: i32,
    freq: u8,
    recurring: bool,
    now: u64,
) -> ConsentRequest {
    ConsentRequest {
        request_id: format!("r{n}"),
        third_party: Party {
            code: format!("TP{tp}"),
            owner: tp,
        },
        bank: Party {
            code: "BANK".into(),
            owner: BANK,
        },
        customer: customer.into(),
        accounts,
        access,
        valid_until: Day::of_ns(now).plus(valid_days),
        frequency_per_day: freq,
        recurring,
    }
}

fn balances() -> Access {
    Access {
        balances: true,
        transactions: None,
    }
}

fn apply(
    reg: &mut Registry,
    id: &str,
    action: Action,
    actor: Actor,
    now: u64,
) -> Result<usize, ConsentError> {
    let changed = reg.plan(id, action, actor, now)?;
    let n = changed.len();
    for c in changed {
        reg.put(c);
    }
    Ok(n)
}

fn new_consent(reg: &mut Registry, req: ConsentRequest, id: &str, now: u64) -> String {
    let (c, created) = reg
        .plan_request(req, id.into(), now)
        .expect("valid request");
    assert!(created);
    reg.put(c);
    id.into()
}

#[test]
fn a_read_needs_an_authorised_consent_covering_account_and_data() {
    let mut reg = Registry::default();
    let now = START_NS + 10 * HOUR_NS;
    let id = new_consent(
        &mut reg,
        request(10, "c1", 1, vec![100, 101], balances(), 30, 4, true, now),
        "cs_a",
        now,
    );
    let read = |reg: &mut Registry, acc: &[u128], kind| {
        reg.begin_read(&id, 10, Some(acc), kind, None, false, now)
    };
    assert_eq!(
        read(&mut reg, &[100], DataKind::Balances),
        Err(ConsentError::Pending)
    );
    assert_eq!(
        apply(
            &mut reg,
            &id,
            Action::Authorise,
            Actor::Participant(10),
            now
        ),
        Err(ConsentError::StateConflict {
            state: "requested",
            action: "changed by this party that way"
        })
    );
    assert_eq!(
        apply(
            &mut reg,
            &id,
            Action::Authorise,
            Actor::Participant(BANK),
            now
        ),
        Ok(1)
    );
    assert!(read(&mut reg, &[100], DataKind::Balances).is_ok());
    assert_eq!(
        read(&mut reg, &[102], DataKind::Balances),
        Err(ConsentError::AccountNotConsented)
    );
    assert_eq!(
        read(&mut reg, &[100], DataKind::Transactions),
        Err(ConsentError::DataNotConsented)
    );
    assert_eq!(
        reg.begin_read(&id, 11, None, DataKind::Balances, None, false, now),
        Err(ConsentError::NotFound),
        "another third party learns nothing"
    );
    assert_eq!(
        apply(&mut reg, &id, Action::Revoke, Actor::Customer, now),
        Ok(1)
    );
    assert_eq!(
        read(&mut reg, &[100], DataKind::Balances),
        Err(ConsentError::Revoked)
    );
    assert_eq!(
        apply(&mut reg, &id, Action::Revoke, Actor::Customer, now),
        Ok(0),
        "a repeat changes nothing"
    );
}

#[test]
fn the_fifth_unattended_read_of_a_day_is_refused_and_the_customer_present_is_not_counted() {
    let mut reg = Registry::default();
    let now = START_NS + 10 * HOUR_NS;
    let id = new_consent(
        &mut reg,
        request(10, "c1", 1, vec![100], balances(), 30, 4, true, now),
        "cs_a",
        now,
    );
    apply(
        &mut reg,
        &id,
        Action::Authorise,
        Actor::Participant(BANK),
        now,
    )
    .expect("authorised");
    for _ in 0..4 {
        reg.begin_read(&id, 10, None, DataKind::Balances, None, false, now)
            .expect("within the day's four");
    }
    assert_eq!(
        reg.begin_read(&id, 10, None, DataKind::Balances, None, false, now),
        Err(ConsentError::ReadsPerDayExceeded { limit: 4 })
    );
    assert!(reg
        .begin_read(&id, 10, None, DataKind::Balances, None, true, now)
        .is_ok());
    // Shanghai's midnight gives four more.
    let tomorrow = START_NS + 24 * HOUR_NS;
    assert!(reg
        .begin_read(&id, 10, None, DataKind::Balances, None, false, tomorrow)
        .is_ok());
}

#[test]
fn a_new_recurring_consent_replaces_the_former_once_authorised() {
    let mut reg = Registry::default();
    let now = START_NS;
    let old = new_consent(
        &mut reg,
        request(10, "c1", 1, vec![100], balances(), 30, 4, true, now),
        "cs_old",
        now,
    );
    apply(
        &mut reg,
        &old,
        Action::Authorise,
        Actor::Participant(BANK),
        now,
    )
    .expect("authorised");
    let new = new_consent(
        &mut reg,
        request(10, "c1", 2, vec![101], balances(), 30, 4, true, now),
        "cs_new",
        now,
    );
    assert!(
        reg.begin_read(&old, 10, None, DataKind::Balances, None, true, now)
            .is_ok(),
        "not replaced before the new one is authorised"
    );
    assert_eq!(
        apply(&mut reg, &new, Action::Authorise, Actor::Customer, now),
        Ok(2)
    );
    assert_eq!(
        reg.begin_read(&old, 10, None, DataKind::Balances, None, true, now),
        Err(ConsentError::Replaced)
    );
}

#[test]
fn a_one_off_consent_ends_with_the_day_it_was_authorised() {
    let mut reg = Registry::default();
    let now = START_NS + 20 * HOUR_NS;
    let id = new_consent(
        &mut reg,
        request(10, "c1", 1, vec![100], balances(), 30, 1, false, now),
        "cs_a",
        now,
    );
    apply(
        &mut reg,
        &id,
        Action::Authorise,
        Actor::Participant(BANK),
        now,
    )
    .expect("authorised");
    assert!(reg
        .begin_read(&id, 10, None, DataKind::Balances, None, true, now)
        .is_ok());
    let next_day = now + 4 * HOUR_NS;
    assert_eq!(
        reg.begin_read(&id, 10, None, DataKind::Balances, None, true, next_day),
        Err(ConsentError::Expired)
    );
    assert!(reg.plan_expiry(&id, next_day).is_some());
}

#[test]
fn a_request_id_again_with_other_fields_is_a_conflict() {
    let mut reg = Registry::default();
    let now = START_NS;
    new_consent(
        &mut reg,
        request(10, "c1", 1, vec![100], balances(), 30, 4, true, now),
        "cs_a",
        now,
    );
    let same = request(10, "c1", 1, vec![100], balances(), 30, 4, true, now);
    let (again, created) = reg
        .plan_request(same, "cs_b".into(), now)
        .expect("same request");
    assert_eq!((again.id.as_str(), created), ("cs_a", false));
    let other = request(10, "c1", 1, vec![101], balances(), 30, 4, true, now);
    assert_eq!(
        reg.plan_request(other, "cs_c".into(), now).err(),
        Some(ConsentError::Conflict)
    );
    let too_long = request(10, "c1", 9, vec![100], balances(), 181, 4, true, now);
    assert!(matches!(
        reg.plan_request(too_long, "cs_d".into(), now),
        Err(ConsentError::Invalid("valid_until", _))
    ));
}

// ---- the property: a read succeeds exactly when a valid consent covers it ----------------

#[derive(Clone, Debug)]
enum Op {
    Request {
        tp: u64,
        customer: u8,
        accounts: Vec<u128>,
        balances: bool,
        transactions: bool,
        valid_days: i32,
        freq: u8,
        recurring: bool,
    },
    Act {
        consent: usize,
        action: Action,
        by_right_party: bool,
    },
    Advance {
        hours: u64,
    },
    Read {
        tp: u64,
        consent: usize,
        account: u128,
        transactions: bool,
        present: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let action = prop_oneof![
        Just(Action::Authorise),
        Just(Action::Reject),
        Just(Action::Revoke),
        Just(Action::Terminate)
    ];
    prop_oneof![
        2 => (10u64..12, 0u8..2, proptest::sample::subsequence(ACCOUNTS[..3].to_vec(), 1..3), any::<bool>(), any::<bool>(), 0i32..4, 1u8..5, any::<bool>())
            .prop_map(|(tp, customer, accounts, balances, transactions, valid_days, freq, recurring)| Op::Request {
                tp, customer, accounts, balances: balances || !transactions, transactions, valid_days,
                freq: if recurring { freq } else { 1 }, recurring,
            }),
        3 => (0usize..8, action, proptest::bool::weighted(0.85)).prop_map(|(consent, action, by_right_party)| Op::Act { consent, action, by_right_party }),
        1 => (0u64..30).prop_map(|hours| Op::Advance { hours }),
        6 => (10u64..12, 0usize..8, proptest::sample::select(ACCOUNTS[..2].to_vec()), proptest::bool::weighted(0.2), proptest::bool::weighted(0.2))
            .prop_map(|(tp, consent, account, transactions, present)| Op::Read { tp, consent, account, transactions, present }),
    ]
}

/// The model: what each consent went through, kept as plainly as possible.
struct Model {
    req: ConsentRequest,
    authorised_day: Option<Day>,
    ended: bool,
}

impl Model {
    fn last_day(&self) -> Day {
        match (self.req.recurring, self.authorised_day) {
            (false, Some(d)) => d.min(self.req.valid_until),
            _ => self.req.valid_until,
        }
    }
    fn live(&self, today: Day) -> bool {
        !self.ended && today <= self.last_day()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn a_read_succeeds_exactly_when_a_valid_consent_covers_it(ops in proptest::collection::vec(op(), 1..200)) {
        let mut reg = Registry::default();
        let mut models: Vec<(String, Model)> = Vec::new();
        let mut counts: std::collections::HashMap<(u64, u128, Day), u8> = Default::default();
        let mut now = START_NS + 9 * HOUR_NS;
        for (n, op) in ops.into_iter().enumerate() {
            let today = Day::of_ns(now);
            match op {
                Op::Request { tp, customer, accounts, balances, transactions, valid_days, freq, recurring } => {
                    let access = Access { balances, transactions: transactions.then_some((today.plus(-3), today.plus(3))) };
                    let req = request(tp, &format!("c{customer}"), n as u32, accounts, access, valid_days, freq, recurring, now);
                    let id = format!("cs_{n}");
                    let (c, created) = reg.plan_request(req.clone(), id.clone(), now).expect("valid");
                    prop_assert!(created);
                    reg.put(c);
                    models.push((id, Model { req, authorised_day: None, ended: false }));
                }
                Op::Act { consent, action, by_right_party } => {
                    let Some(i) = (consent < models.len()).then_some(consent) else { continue };
                    let (id, m) = &models[i];
                    let right = if action == Action::Terminate { m.req.third_party.owner } else { BANK };
                    let wrong = if action == Action::Terminate { BANK } else { m.req.third_party.owner };
                    let actor = Actor::Participant(if by_right_party { right } else { wrong });
                    let result = apply(&mut reg, &id.clone(), action, actor, now);
                    let authorised = m.authorised_day.is_some();
                    let expected_change = by_right_party && match action {
                        Action::Authorise | Action::Reject => !authorised && !m.ended && today <= m.req.valid_until,
                        Action::Revoke => authorised && m.live(today),
                        Action::Terminate => m.live(today),
                    };
                    prop_assert_eq!(result.as_ref().is_ok_and(|n| *n > 0), expected_change, "{:?} {:?}", action, result);
                    if expected_change {
                        let (tp, customer, recurring) = (m.req.third_party.owner, m.req.customer.clone(), m.req.recurring);
                        match action {
                            Action::Authorise => {
                                models[i].1.authorised_day = Some(today);
                                for (j, (_, other)) in models.iter_mut().enumerate() {
                                    let same = other.req.third_party.owner == tp && other.req.customer == customer;
                                    if j != i && recurring && same && other.req.recurring && other.authorised_day.is_some() && other.live(today) {
                                        other.ended = true;
                                    }
                                }
                            }
                            _ => models[i].1.ended = true,
                        }
                    }
                }
                Op::Advance { hours } => now += hours * HOUR_NS,
                Op::Read { tp, consent, account, transactions, present } => {
                    let Some((id, m)) = models.get(consent) else { continue };
                    let kind = if transactions { DataKind::Transactions } else { DataKind::Balances };
                    let result = reg.begin_read(id, tp, Some(&[account]), kind, None, present, now);
                    let used = counts.get(&(tp, account, today)).copied().unwrap_or(0);
                    let covered = m.req.third_party.owner == tp
                        && m.authorised_day.is_some()
                        && m.live(today)
                        && m.req.accounts.contains(&account)
                        && if transactions { m.req.access.transactions.is_some() } else { m.req.access.balances };
                    let allowed = covered && (present || used < m.req.frequency_per_day);
                    prop_assert_eq!(result.is_ok(), allowed, "{:?}", result);
                    if allowed && !present {
                        *counts.entry((tp, account, today)).or_default() += 1;
                    }
                }
            }
        }
    }
}
