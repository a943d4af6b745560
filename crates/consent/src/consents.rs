//! `Consents`: the handle the API calls. Each change is planned on the registry, written to
//! `consent.db` with its record entry in one fsynced group, and only then applied in memory
//! and answered, so nothing a caller was told can be lost and a revocation is in force for
//! the very next read. Changes are made one at a time (`changes`); reads check and count in
//! memory and never wait behind a change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use suanpan_store::postgres::EpochSource;

use crate::code;
use crate::consent::{Consent, ConsentRequest, DataKind};
use crate::day::Day;
use crate::error::ConsentError;
use crate::record::Record;
use crate::registry::{Action, Actor, ReadPermit, Registry};
use crate::store::{self, Home, RecordFilter, Store};

pub struct Consents {
    store: Store,
    registry: Mutex<Registry>,
    changes: tokio::sync::Mutex<()>,
    /// With the rooms on PostgreSQL: the epoch this node holds the writer's lease at. The
    /// registry in memory was loaded at `loaded_epoch`; a node that has taken the lease over
    /// since loads it again from the shared tables, so a consent granted or revoked through
    /// the old leader holds here from the first request.
    epoch: Option<EpochSource>,
    loaded_epoch: AtomicU64,
}

/// Who does something, as the record names it, and as the rules see it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    pub name: String,
}

impl Caller {
    pub fn participant(code: &str, owner: u64) -> Caller {
        Caller {
            actor: Actor::Participant(owner),
            name: format!("participant:{code}"),
        }
    }

    pub fn customer() -> Caller {
        Caller {
            actor: Actor::Customer,
            name: "customer".into(),
        }
    }
}

fn random_id() -> Result<String, ConsentError> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConsentError::Store(format!("no randomness from the system: {e}")))?;
    Ok(format!(
        "cs_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

fn record(c: &Consent, caller: &str, action: &str, outcome: &str, now_ns: u64) -> Record {
    Record {
        seq: 0,
        time_ns: now_ns,
        consent_id: c.id.clone(),
        third_party_owner: c.request.third_party.owner,
        bank_owner: c.request.bank.owner,
        customer: c.request.customer.clone(),
        actor: caller.into(),
        action: action.into(),
        accounts: c.request.accounts.clone(),
        data: c.request.access.describe(),
        customer_present: false,
        counted: false,
        outcome: outcome.into(),
    }
}

impl Consents {
    /// Opens the room's store in `home`, loads every consent and counts again today's
    /// unattended reads from the record. `epoch`: where the rooms are shared (PostgreSQL),
    /// the epoch this node holds the writer's lease at, if any.
    pub fn open(
        home: &Home,
        now_ns: u64,
        epoch: Option<EpochSource>,
    ) -> Result<Consents, ConsentError> {
        let store = store::open(home)?;
        let registry = load(&store, now_ns)?;
        let loaded_epoch = epoch.as_ref().and_then(|e| e()).unwrap_or(0);
        Ok(Consents {
            store,
            registry: Mutex::new(registry),
            changes: tokio::sync::Mutex::new(()),
            epoch,
            loaded_epoch: AtomicU64::new(loaded_epoch),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(now) = self.epoch.as_ref().and_then(|e| e()) {
            if now != self.loaded_epoch.load(Ordering::Acquire) {
                // This node took the lease over: what the old leader changed is in the
                // shared tables. Should the read fail, it is tried again at the next call.
                if let Ok(fresh) = load(&self.store, wall_ns()) {
                    *registry = fresh;
                    self.loaded_epoch.store(now, Ordering::Release);
                }
            }
        }
        registry
    }

    /// Writes consents and record entries in one group; applies the consents once durable.
    async fn commit(
        &self,
        consents: Vec<Consent>,
        records: Vec<Record>,
    ) -> Result<(), ConsentError> {
        let rows = consents.clone();
        self.store
            .write(move |conn| {
                for c in &rows {
                    store::save_consent(conn, c)?;
                }
                for r in &records {
                    store::append_record(conn, r)?;
                }
                Ok::<_, ConsentError>(())
            })
            .await?;
        let mut registry = self.registry();
        for c in consents {
            registry.put(c);
        }
        Ok(())
    }

    /// A third party's request: a new consent in state `requested`, or the one the same
    /// request made before (`false`).
    pub async fn request(
        &self,
        request: ConsentRequest,
        now_ns: u64,
    ) -> Result<(Consent, bool), ConsentError> {
        let _one_at_a_time = self.changes.lock().await;
        let caller = format!("participant:{}", request.third_party.code);
        let planned = self.registry().plan_request(request, random_id()?, now_ns);
        let (consent, created) = planned?;
        if created {
            let entry = record(&consent, &caller, "request", "ok", now_ns);
            self.commit(vec![consent.clone()], vec![entry]).await?;
        }
        Ok((consent, created))
    }

    /// Authorise, reject, revoke or terminate. `owner_of` tells each account's owner, so a
    /// bank can authorise only a consent on its own accounts.
    pub async fn act(
        &self,
        id: &str,
        action: Action,
        caller: &Caller,
        owner_of: impl Fn(u128) -> Option<u64> + Sync,
        now_ns: u64,
    ) -> Result<Consent, ConsentError> {
        let _one_at_a_time = self.changes.lock().await;
        self.act_locked(id, action, caller, &owner_of, now_ns).await
    }

    async fn act_locked(
        &self,
        id: &str,
        action: Action,
        caller: &Caller,
        owner_of: &(dyn Fn(u128) -> Option<u64> + Sync),
        now_ns: u64,
    ) -> Result<Consent, ConsentError> {
        self.expire_if_due(id, now_ns).await?;
        let planned = {
            let registry = self.registry();
            let plan = registry.plan(id, action, caller.actor, now_ns);
            let current = registry.get(id).cloned();
            (plan, current)
        };
        let (plan, current) = planned;
        let changed = match (plan, current) {
            (Ok(changed), _) => changed,
            (Err(e), Some(c)) => {
                self.commit(
                    Vec::new(),
                    vec![record(&c, &caller.name, action.as_str(), e.code(), now_ns)],
                )
                .await?;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        let Some(first) = changed.first() else {
            // Done before: answered as the first time was.
            return self
                .registry()
                .get(id)
                .cloned()
                .ok_or(ConsentError::NotFound);
        };
        if action == Action::Authorise {
            let bank = first.request.bank.owner;
            if let Some(&account) = first
                .request
                .accounts
                .iter()
                .find(|a| owner_of(**a) != Some(bank))
            {
                let e = ConsentError::AccountNotOwned(account);
                self.commit(
                    Vec::new(),
                    vec![record(first, &caller.name, "authorise", e.code(), now_ns)],
                )
                .await?;
                return Err(e);
            }
        }
        let mut records = vec![record(first, &caller.name, action.as_str(), "ok", now_ns)];
        for replaced in &changed[1..] {
            records.push(record(replaced, "system", "replace", "ok", now_ns));
        }
        let answer = first.clone();
        self.commit(changed, records).await?;
        Ok(answer)
    }

    /// Records a live consent found past its last day as expired.
    async fn expire_if_due(&self, id: &str, now_ns: u64) -> Result<(), ConsentError> {
        let expired = self.registry().plan_expiry(id, now_ns);
        if let Some(c) = expired {
            let entry = record(&c, "system", "expire", "ok", now_ns);
            self.commit(vec![c], vec![entry]).await?;
        }
        Ok(())
    }

    /// A fresh one-time code for the consent page, for the bank to hand to its customer.
    /// Replaces any code issued before. The code and when it expires.
    pub async fn issue_code(
        &self,
        id: &str,
        caller: &Caller,
        now_ns: u64,
    ) -> Result<(String, u64), ConsentError> {
        let _one_at_a_time = self.changes.lock().await;
        self.expire_if_due(id, now_ns).await?;
        let mut c = {
            let registry = self.registry();
            match (registry.get(id), caller.actor) {
                (Some(c), Actor::Participant(owner)) if owner == c.request.bank.owner => c.clone(),
                _ => return Err(ConsentError::NotFound),
            }
        };
        if c.state.is_final() {
            return Err(ConsentError::StateConflict {
                state: c.state.as_str(),
                action: "given a code",
            });
        }
        let (digits, kept) = code::issue(id, now_ns)?;
        let expires_ns = kept.expires_ns;
        c.code = Some(kept);
        let entry = record(&c, &caller.name, "issue_code", "ok", now_ns);
        self.commit(vec![c], vec![entry]).await?;
        Ok((digits, expires_ns))
    }

    /// The customer on the consent page: a one-time code, then the action. A wrong code uses
    /// up a try, durably; a right one is used up by the action.
    pub async fn page_act(
        &self,
        id: &str,
        typed_code: &str,
        action: Action,
        owner_of: impl Fn(u128) -> Option<u64> + Sync,
        now_ns: u64,
    ) -> Result<Consent, ConsentError> {
        let _one_at_a_time = self.changes.lock().await;
        let customer = Caller::customer();
        let mut c = self
            .registry()
            .get(id)
            .cloned()
            .ok_or(ConsentError::NotFound)?;
        let checked = match c.code.as_mut() {
            None => Err(ConsentError::CodeNotIssued),
            Some(kept) => kept.check(id, typed_code, now_ns),
        };
        if let Err(e) = checked {
            let entry = record(&c, &customer.name, action.as_str(), e.code(), now_ns);
            self.commit(vec![c], vec![entry]).await?;
            return Err(e);
        }
        self.act_locked(id, action, &customer, &owner_of, now_ns)
            .await
    }

    /// A consent as `viewer` may see it (`None`: an operator).
    pub fn get(&self, id: &str, viewer: Option<u64>, now_ns: u64) -> Result<Consent, ConsentError> {
        let registry = self.registry();
        let c = registry.visible(id, viewer)?;
        Ok(Consent {
            state: c.state_at(now_ns),
            ..c.clone()
        })
    }

    /// A customer's consents at a bank, each in its state as of `now_ns`.
    pub fn for_customer(&self, bank_owner: u64, customer: &str, now_ns: u64) -> Vec<Consent> {
        self.registry()
            .for_customer(bank_owner, customer)
            .into_iter()
            .map(|c| Consent {
                state: c.state_at(now_ns),
                ..c.clone()
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.registry().len()
    }

    pub fn is_empty(&self) -> bool {
        self.registry().is_empty()
    }

    /// Checks a third party's read and takes the day's counts; the caller reads, then
    /// [`Consents::finish_read`] records it (or [`Consents::refused`] the refusal).
    #[allow(clippy::too_many_arguments)]
    pub fn begin_read(
        &self,
        id: &str,
        third_party_owner: u64,
        accounts: Option<&[u128]>,
        kind: DataKind,
        range: Option<(Day, Day)>,
        customer_present: bool,
        now_ns: u64,
    ) -> Result<ReadPermit, ConsentError> {
        self.registry().begin_read(
            id,
            third_party_owner,
            accounts,
            kind,
            range,
            customer_present,
            now_ns,
        )
    }

    /// Records a read that was answered, durably, before the answer leaves. If the record
    /// cannot be written the read is not answered and its counts are given back.
    pub async fn finish_read(
        &self,
        permit: &ReadPermit,
        kind: DataKind,
        data: String,
        caller: &Caller,
        now_ns: u64,
    ) -> Result<(), ConsentError> {
        let Some(c) = self.registry().get(&permit.consent_id).cloned() else {
            return Err(ConsentError::NotFound);
        };
        // Revoked (or ended) while this read was being made: it is not answered.
        if let Some(refusal) = c.state_at(now_ns).read_refusal() {
            self.registry().release(permit);
            let entry = Record {
                accounts: permit.accounts.clone(),
                data,
                customer_present: !permit.counted,
                ..record(&c, &caller.name, read_action(kind), refusal.code(), now_ns)
            };
            self.commit(Vec::new(), vec![entry]).await?;
            return Err(refusal);
        }
        let entry = Record {
            accounts: permit.accounts.clone(),
            data,
            customer_present: !permit.counted,
            counted: permit.counted,
            ..record(&c, &caller.name, read_action(kind), "ok", now_ns)
        };
        let written = self.commit(Vec::new(), vec![entry]).await;
        if written.is_err() {
            self.registry().release(permit);
        }
        written
    }

    /// Gives back the counts of a read that was checked but could not be made.
    pub fn release(&self, permit: &ReadPermit) {
        self.registry().release(permit);
    }

    /// Records a refused read (and an expiry it found), durably, before the refusal is sent.
    #[allow(clippy::too_many_arguments)]
    pub async fn refused(
        &self,
        id: &str,
        kind: DataKind,
        accounts: &[u128],
        customer_present: bool,
        caller: &Caller,
        refusal: &ConsentError,
        now_ns: u64,
    ) -> Result<(), ConsentError> {
        if *refusal == ConsentError::Expired {
            let _one_at_a_time = self.changes.lock().await;
            self.expire_if_due(id, now_ns).await?;
        }
        let Some(c) = self.registry().get(id).cloned() else {
            // No consent of that id: nothing to name in the record, and nothing to reveal.
            return Ok(());
        };
        let entry = Record {
            accounts: accounts.to_vec(),
            data: kind.as_str().into(),
            customer_present,
            ..record(&c, &caller.name, read_action(kind), refusal.code(), now_ns)
        };
        self.commit(Vec::new(), vec![entry]).await
    }

    /// Entries of the access record after `after`, oldest first.
    pub fn records(
        &self,
        filter: RecordFilter<'_>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Record>, ConsentError> {
        self.store
            .read(|conn| store::records(conn, filter, after, limit))
    }
}

fn read_action(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Balances => "read_balances",
        DataKind::Transactions => "read_transactions",
    }
}

/// Every consent, and today's unattended reads counted again from the record.
fn load(store: &Store, now_ns: u64) -> Result<Registry, ConsentError> {
    let today = Day::of_ns(now_ns);
    let (consents, reads) = store.read(|c| {
        Ok::<_, ConsentError>((store::load_consents(c)?, store::counted_reads(c, today)?))
    })?;
    let mut registry = Registry::default();
    for c in consents {
        registry.put(c);
    }
    for (third_party, accounts) in reads {
        for account in accounts {
            registry.count_read(third_party, account, today);
        }
    }
    Ok(registry)
}

/// Now, for counting today's reads again at a takeover (the callers pass their own clock to
/// everything else; at a takeover it is the wall clock they read too).
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::consent::{Access, Party};

    fn request(now_ns: u64) -> ConsentRequest {
        ConsentRequest {
            request_id: "r1".into(),
            third_party: Party {
                code: "TP".into(),
                owner: 7,
            },
            bank: Party {
                code: "BANK".into(),
                owner: 2,
            },
            customer: "c-1".into(),
            accounts: vec![2 << 64 | 1],
            access: Access {
                balances: true,
                transactions: None,
            },
            valid_until: Day::of_ns(now_ns).plus(30),
            frequency_per_day: 1,
            recurring: false,
        }
    }

    #[test]
    fn a_node_that_takes_the_lease_over_sees_the_consents_the_old_leader_made() {
        let dir = std::env::temp_dir().join(format!("suanpan-consents-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let home = Home::sqlite(&dir);
        let now = wall_ns();
        let leader = Consents::open(&home, now, Some(Arc::new(|| Some(1)))).expect("opens");
        // The standby loaded the consents when it started, before the leader's request.
        let held = Arc::new(AtomicU64::new(0));
        let source = {
            let held = held.clone();
            Arc::new(move || Some(held.load(Ordering::Acquire)).filter(|&e| e != 0))
        };
        let standby = Consents::open(&home, now, Some(source)).expect("opens");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (made, created) = runtime
            .block_on(leader.request(request(now), now))
            .expect("requested");
        assert!(created);
        assert_eq!(
            standby.get(&made.id, None, now).err(),
            Some(ConsentError::NotFound),
            "a standby answers from what it loaded"
        );
        held.store(2, Ordering::Release);
        let seen = standby
            .get(&made.id, None, now)
            .expect("loaded again at the takeover");
        assert_eq!(seen.request.request_id, "r1");
        drop((leader, standby));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
