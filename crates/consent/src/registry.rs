//! The consents and the day's read counts, in memory, and every rule about them. Pure: time
//! comes in as `now_ns`, nothing here touches a disk, so the rules are tested exhaustively on
//! a test clock. `Consents` (consents.rs) writes each change durably, then applies it here.

use hashbrown::HashMap;

use crate::consent::{Consent, ConsentRequest, ConsentState, DataKind};
use crate::day::Day;
use crate::error::ConsentError;

/// A change a party asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Authorise,
    Reject,
    Revoke,
    Terminate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Authorise => "authorise",
            Action::Reject => "reject",
            Action::Revoke => "revoke",
            Action::Terminate => "terminate",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Action::Authorise => "authorised",
            Action::Reject => "rejected",
            Action::Revoke => "revoked",
            Action::Terminate => "terminated",
        }
    }

    /// The state the action moves a consent to, and the states it may start from.
    fn target(self) -> (ConsentState, &'static [ConsentState]) {
        use ConsentState::*;
        match self {
            Action::Authorise => (Authorised, &[Requested]),
            Action::Reject => (Rejected, &[Requested]),
            Action::Revoke => (RevokedByCustomer, &[Authorised]),
            Action::Terminate => (TerminatedByThirdParty, &[Requested, Authorised]),
        }
    }
}

/// Who asks for a change. The customer acts on the bank's side: through the bank's signed
/// call (`Bank`) or on the consent page with a one-time code (`Customer`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Actor {
    Participant(u64),
    Customer,
}

/// A read allowed under a consent, its counts already taken; give it back with
/// [`Registry::release`] if the read does not happen.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReadPermit {
    pub consent_id: String,
    pub third_party_owner: u64,
    pub accounts: Vec<u128>,
    pub day: Day,
    /// Unattended: it took one of the day's reads of each account.
    pub counted: bool,
}

#[derive(Default)]
pub struct Registry {
    consents: HashMap<String, Consent>,
    by_request: HashMap<(u64, String), String>,
    by_customer: HashMap<(u64, String), Vec<String>>,
    /// (third party, account) → the day and its unattended reads. Keyed by third party, not
    /// consent, so a new consent does not reset the day's count.
    reads: HashMap<(u64, u128), (Day, u8)>,
}

impl Registry {
    pub fn get(&self, id: &str) -> Option<&Consent> {
        self.consents.get(id)
    }

    pub fn len(&self) -> usize {
        self.consents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.consents.is_empty()
    }

    /// The consent a third party's request id made, if any.
    pub fn by_request(&self, third_party_owner: u64, request_id: &str) -> Option<&Consent> {
        self.by_request
            .get(&(third_party_owner, request_id.to_string()))
            .and_then(|id| self.consents.get(id))
    }

    /// A customer's consents at one bank, oldest first.
    pub fn for_customer(&self, bank_owner: u64, customer: &str) -> Vec<&Consent> {
        let mut list: Vec<&Consent> = self
            .by_customer
            .get(&(bank_owner, customer.to_string()))
            .map(|ids| ids.iter().filter_map(|id| self.consents.get(id)).collect())
            .unwrap_or_default();
        list.sort_by_key(|c| (c.created_ns, c.id.clone()));
        list
    }

    /// A consent as `viewer` may see it: a party's only (`None`: an operator sees all).
    pub fn visible(&self, id: &str, viewer: Option<u64>) -> Result<&Consent, ConsentError> {
        match self.consents.get(id) {
            Some(c) if viewer.is_none_or(|owner| c.is_party(owner)) => Ok(c),
            _ => Err(ConsentError::NotFound),
        }
    }

    /// Adds or replaces a consent (after its row is durable).
    pub fn put(&mut self, consent: Consent) {
        let req = &consent.request;
        self.by_request
            .entry((req.third_party.owner, req.request_id.clone()))
            .or_insert_with(|| consent.id.clone());
        let ids = self
            .by_customer
            .entry((req.bank.owner, req.customer.clone()))
            .or_default();
        if !ids.contains(&consent.id) {
            ids.push(consent.id.clone());
        }
        self.consents.insert(consent.id.clone(), consent);
    }

    /// A new consent for a request, or the one the same request made before. Refuses a
    /// request id used before with other fields.
    pub fn plan_request(
        &self,
        request: ConsentRequest,
        id: String,
        now_ns: u64,
    ) -> Result<(Consent, bool), ConsentError> {
        if let Some(existing) = self.by_request(request.third_party.owner, &request.request_id) {
            return if existing.request == request {
                Ok((existing.clone(), false))
            } else {
                Err(ConsentError::Conflict)
            };
        }
        request.validate(Day::of_ns(now_ns))?;
        let consent = Consent {
            id,
            request,
            state: ConsentState::Requested,
            created_ns: now_ns,
            changed_ns: now_ns,
            authorised_day: None,
            code: None,
        };
        Ok((consent, true))
    }

    /// The consent moved to its expired state if it is live and past its last day.
    pub fn plan_expiry(&self, id: &str, now_ns: u64) -> Option<Consent> {
        let c = self.consents.get(id)?;
        (c.state_at(now_ns) != c.state).then(|| Consent {
            state: ConsentState::Expired,
            changed_ns: now_ns,
            code: None,
            ..c.clone()
        })
    }

    /// The consents an action changes: the one named first, then any it replaces. Empty
    /// when the action was already done (a repeat is answered as the first was).
    pub fn plan(
        &self,
        id: &str,
        action: Action,
        actor: Actor,
        now_ns: u64,
    ) -> Result<Vec<Consent>, ConsentError> {
        let c = self.consents.get(id).ok_or(ConsentError::NotFound)?;
        let allowed = match (action, actor) {
            (_, Actor::Participant(owner)) if !c.is_party(owner) => {
                return Err(ConsentError::NotFound)
            }
            (Action::Terminate, Actor::Participant(owner)) => owner == c.request.third_party.owner,
            (Action::Terminate, Actor::Customer) => false,
            (_, Actor::Participant(owner)) => owner == c.request.bank.owner,
            (_, Actor::Customer) => true,
        };
        if !allowed {
            return Err(ConsentError::StateConflict {
                state: c.state.as_str(),
                action: "changed by this party that way",
            });
        }
        let (target, from) = action.target();
        let state = c.state_at(now_ns);
        if state == target {
            return Ok(Vec::new());
        }
        if !from.contains(&state) {
            return Err(ConsentError::StateConflict {
                state: state.as_str(),
                action: action.past(),
            });
        }
        let mut changed = vec![Consent {
            state: target,
            changed_ns: now_ns,
            authorised_day: match action {
                Action::Authorise => Some(Day::of_ns(now_ns)),
                _ => c.authorised_day,
            },
            code: None,
            ..c.clone()
        }];
        if action == Action::Authorise && c.request.recurring {
            // A customer has one recurring consent per third party: the new one replaces
            // the ones before it.
            let req = &c.request;
            for other in self.for_customer(req.bank.owner, &req.customer) {
                let same_third_party = other.request.third_party.owner == req.third_party.owner;
                if other.id != c.id
                    && same_third_party
                    && other.request.recurring
                    && other.state_at(now_ns) == ConsentState::Authorised
                {
                    changed.push(Consent {
                        state: ConsentState::Replaced,
                        changed_ns: now_ns,
                        code: None,
                        ..other.clone()
                    });
                }
            }
        }
        Ok(changed)
    }

    /// Checks a third party's read and takes the day's counts it needs. `accounts` `None`
    /// reads every consented account; `range` is the transactions' days asked for.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_read(
        &mut self,
        id: &str,
        third_party_owner: u64,
        accounts: Option<&[u128]>,
        kind: DataKind,
        range: Option<(Day, Day)>,
        customer_present: bool,
        now_ns: u64,
    ) -> Result<ReadPermit, ConsentError> {
        let c = match self.consents.get(id) {
            Some(c) if c.request.third_party.owner == third_party_owner => c,
            _ => return Err(ConsentError::NotFound),
        };
        if let Some(refusal) = c.state_at(now_ns).read_refusal() {
            return Err(refusal);
        }
        let access = &c.request.access;
        match kind {
            DataKind::Balances if !access.balances => return Err(ConsentError::DataNotConsented),
            DataKind::Transactions => {
                let Some((from, to)) = access.transactions else {
                    return Err(ConsentError::DataNotConsented);
                };
                if let Some((a, b)) = range {
                    if a < from || b > to || a > b {
                        return Err(ConsentError::RangeNotConsented);
                    }
                }
            }
            DataKind::Balances => {}
        }
        let accounts = match accounts {
            None => c.request.accounts.clone(),
            Some(asked) => {
                if asked.is_empty() || asked.iter().any(|a| !c.request.accounts.contains(a)) {
                    return Err(ConsentError::AccountNotConsented);
                }
                asked.to_vec()
            }
        };
        let day = Day::of_ns(now_ns);
        let limit = c.request.frequency_per_day;
        if !customer_present {
            let used = |a: &u128| match self.reads.get(&(third_party_owner, *a)) {
                Some((d, n)) if *d == day => *n,
                _ => 0,
            };
            if accounts.iter().any(|a| used(a) >= limit) {
                return Err(ConsentError::ReadsPerDayExceeded { limit });
            }
            for a in &accounts {
                self.count_read(third_party_owner, *a, day);
            }
        }
        Ok(ReadPermit {
            consent_id: id.to_string(),
            third_party_owner,
            accounts,
            day,
            counted: !customer_present,
        })
    }

    /// Counts one unattended read (also used to rebuild the counts from the record).
    pub fn count_read(&mut self, third_party_owner: u64, account: u128, day: Day) {
        let entry = self
            .reads
            .entry((third_party_owner, account))
            .or_insert((day, 0));
        if entry.0 < day {
            *entry = (day, 0);
        }
        if entry.0 == day {
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// Gives back the counts of a read that did not happen.
    pub fn release(&mut self, permit: &ReadPermit) {
        if !permit.counted {
            return;
        }
        for a in &permit.accounts {
            if let Some((day, n)) = self.reads.get_mut(&(permit.third_party_owner, *a)) {
                if *day == permit.day {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
