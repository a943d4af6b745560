//! Participants (参与机构): the banks and payment institutions that clear through Suanpan.
//!
//! The money side of a participant lives in the ledger (its position and settlement accounts,
//! its cap as a transfer, suspension as a frozen position account), so the ledger enforces it
//! online. What the ledger does not hold (code, name, kind) is kept in the room's store
//! (`store.rs`), one row per participant, written once the ledger has taken the change.

use std::collections::BTreeMap;

use suanpan_engine::Engine;
use suanpan_ledger::{Command, ResultCode, Transfer};

use crate::accounts::{
    cap_account_id, cap_change_transfer_id, open_participant_accounts, open_room_accounts,
    position_account_id, CODE_CAP,
};
use crate::store::{self, Store};
use crate::{ClearingError, CLEARING_CURRENCY, PARTICIPANTS_MAX};

/// Where an older Suanpan kept the registry, under the data directory: taken into the store
/// once (`store::open`).
pub const PARTICIPANTS_FILE: &str = "clearing/participants.csv";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParticipantKind {
    Bank,
    PaymentInstitution,
}

impl ParticipantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantKind::Bank => "bank",
            ParticipantKind::PaymentInstitution => "payment_institution",
        }
    }

    pub fn parse(text: &str) -> Option<ParticipantKind> {
        match text {
            "bank" => Some(ParticipantKind::Bank),
            "payment_institution" => Some(ParticipantKind::PaymentInstitution),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParticipantStatus {
    Active,
    /// Its position account is frozen: it neither pays nor receives.
    Suspended,
}

impl ParticipantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantStatus::Active => "active",
            ParticipantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<ParticipantStatus> {
        match text {
            "active" => Some(ParticipantStatus::Active),
            "suspended" => Some(ParticipantStatus::Suspended),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Participant {
    /// 1..=PARTICIPANTS_MAX: the key of its ledger accounts.
    pub number: u16,
    /// Its institution code (a bank code, a licence number): 1 to 16 ASCII letters and digits.
    pub code: String,
    /// 1 to 64 characters, without commas, quotes or control characters.
    pub name: String,
    pub kind: ParticipantKind,
    pub status: ParticipantStatus,
    /// The most it may owe, unsettled, at any moment.
    pub net_debit_cap_fen: u64,
    /// How many times the cap was set: the id of the next cap transfer.
    pub cap_revision: u32,
}

impl Participant {
    pub(crate) fn validate(&self) -> Result<(), ClearingError> {
        let invalid = |why: String| Err(ClearingError::ParticipantInvalid(why));
        if self.number == 0 || self.number > PARTICIPANTS_MAX {
            return invalid(format!(
                "participant number {} is not in 1..={PARTICIPANTS_MAX}",
                self.number
            ));
        }
        let code_ok = (1..=16).contains(&self.code.len())
            && self.code.bytes().all(|b| b.is_ascii_alphanumeric());
        if !code_ok {
            return invalid(format!(
                "participant code {:?} must be 1 to 16 letters and digits",
                self.code
            ));
        }
        let name_ok = (1..=64).contains(&self.name.chars().count())
            && !self
                .name
                .chars()
                .any(|c| c == ',' || c == '"' || c.is_control());
        if !name_ok {
            return invalid(format!(
                "participant name {:?} must be 1 to 64 characters without commas, quotes or control characters",
                self.name
            ));
        }
        if i64::try_from(self.net_debit_cap_fen).is_err() {
            return invalid(format!(
                "net debit cap {} fen is more than {} fen",
                self.net_debit_cap_fen,
                i64::MAX
            ));
        }
        Ok(())
    }
}

/// The participants, as the room's store holds them.
pub struct Registry {
    participants: BTreeMap<u16, Participant>,
}

impl Registry {
    /// Reads the registry from the room's store.
    pub fn load(store: &Store) -> Result<Registry, ClearingError> {
        let participants = store.read(store::load_participants)?;
        Ok(Registry {
            participants: participants.into_iter().map(|p| (p.number, p)).collect(),
        })
    }

    pub fn get(&self, number: u16) -> Option<&Participant> {
        self.participants.get(&number)
    }

    /// Every participant, by number.
    pub fn all(&self) -> impl Iterator<Item = &Participant> {
        self.participants.values()
    }

    /// Registers a participant: opens its position and settlement accounts, credits its cap,
    /// then records it. Registering the same participant again changes nothing.
    #[allow(clippy::too_many_arguments)] // the participant's fields, each named at the call
    pub fn register(
        &mut self,
        store: &Store,
        engine: &Engine,
        number: u16,
        code: &str,
        name: &str,
        kind: ParticipantKind,
        net_debit_cap_fen: u64,
    ) -> Result<(), ClearingError> {
        let participant = Participant {
            number,
            code: code.to_string(),
            name: name.to_string(),
            kind,
            status: ParticipantStatus::Active,
            net_debit_cap_fen,
            cap_revision: u32::from(net_debit_cap_fen > 0),
        };
        participant.validate()?;
        if let Some(other) = self.all().find(|p| p.code == code && p.number != number) {
            return Err(ClearingError::ParticipantInvalid(format!(
                "code {code} is already participant {}'s",
                other.number
            )));
        }
        if let Some(existing) = self.get(number) {
            if existing.code != code || existing.net_debit_cap_fen != net_debit_cap_fen {
                return Err(ClearingError::ParticipantInvalid(format!(
                    "participant {number} is already registered as {} with another cap or code",
                    existing.code
                )));
            }
            return Ok(());
        }
        let mut commands = open_room_accounts();
        commands.extend(open_participant_accounts(number));
        if net_debit_cap_fen > 0 {
            commands.push(cap_transfer(number, 1, net_debit_cap_fen, true));
        }
        for result in engine.execute(commands)? {
            if !result.is_success() {
                return Err(ClearingError::Ledger(result));
            }
        }
        self.save(store, participant)
    }

    /// Sets a participant's net debit cap: a transfer of the difference to or from its position
    /// account. Lowering it below what the participant owes now is refused.
    pub fn set_cap(
        &mut self,
        store: &Store,
        engine: &Engine,
        number: u16,
        net_debit_cap_fen: u64,
    ) -> Result<(), ClearingError> {
        let p = self
            .participants
            .get(&number)
            .ok_or(ClearingError::ParticipantNotFound {
                participant: number,
            })?;
        if p.net_debit_cap_fen == net_debit_cap_fen {
            return Ok(());
        }
        let raise = net_debit_cap_fen > p.net_debit_cap_fen;
        let delta = net_debit_cap_fen.abs_diff(p.net_debit_cap_fen);
        let revision = p.cap_revision + 1;
        let changed = Participant {
            net_debit_cap_fen,
            cap_revision: revision,
            ..p.clone()
        };
        // Refused here, before the ledger moves, if the store could not hold it.
        changed.validate()?;
        let result = engine.execute(vec![cap_transfer(number, revision, delta, raise)])?[0];
        match result {
            ResultCode::Ok | ResultCode::Exists => {}
            ResultCode::ExceedsCredits => {
                return Err(ClearingError::NetDebitCapExceeded {
                    participant: number,
                })
            }
            other => return Err(ClearingError::Ledger(other)),
        }
        self.save(store, changed)
    }

    /// Suspends (freezes its position account) or reactivates a participant.
    pub fn set_status(
        &mut self,
        store: &Store,
        engine: &Engine,
        number: u16,
        status: ParticipantStatus,
    ) -> Result<(), ClearingError> {
        let p = self
            .participants
            .get(&number)
            .ok_or(ClearingError::ParticipantNotFound {
                participant: number,
            })?;
        let changed = Participant {
            status,
            ..p.clone()
        };
        let id = position_account_id(number);
        let (command, already) = match status {
            ParticipantStatus::Suspended => {
                (Command::FreezeAccount { id }, ResultCode::AccountFrozen)
            }
            ParticipantStatus::Active => (
                Command::UnfreezeAccount { id },
                ResultCode::AccountNotFrozen,
            ),
        };
        let result = engine.execute(vec![command])?[0];
        if result != ResultCode::Ok && result != already {
            return Err(ClearingError::Ledger(result));
        }
        self.save(store, changed)
    }

    /// Records a participant as it now is, once the store has it.
    fn save(&mut self, store: &Store, p: Participant) -> Result<(), ClearingError> {
        let row = p.clone();
        store.write_blocking(move |c| store::save_participant(c, &row))?;
        self.participants.insert(p.number, p);
        Ok(())
    }
}

fn cap_transfer(number: u16, revision: u32, amount_fen: u64, raise: bool) -> Command {
    let (cap, position) = (cap_account_id(), position_account_id(number));
    let (debit, credit) = if raise {
        (cap, position)
    } else {
        (position, cap)
    };
    Command::CreateTransfer(Transfer {
        code: CODE_CAP,
        ..Transfer::new(
            cap_change_transfer_id(number, revision),
            debit,
            credit,
            amount_fen,
            CLEARING_CURRENCY,
        )
    })
}

/// A line of the older registry file: `number,code,name,kind,status,cap_fen,cap_revision`.
pub(crate) fn parse_line(line: &str) -> Option<Participant> {
    let fields: Vec<&str> = line.split(',').collect();
    let [number, code, name, kind, status, cap, revision] = fields[..] else {
        return None;
    };
    Some(Participant {
        number: number.parse().ok()?,
        code: code.to_string(),
        name: name.to_string(),
        kind: ParticipantKind::parse(kind)?,
        status: ParticipantStatus::parse(status)?,
        net_debit_cap_fen: cap.parse().ok()?,
        cap_revision: revision.parse().ok()?,
    })
}
