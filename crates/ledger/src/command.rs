use crate::{AccountingDate, NewAccount, Transfer};

/// Everything that can change the ledger. Each command gets exactly one [`crate::ResultCode`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    CreateAccount(NewAccount),
    CreateTransfer(Transfer),
    FreezeAccount {
        id: u128,
    },
    UnfreezeAccount {
        id: u128,
    },
    CloseAccount {
        id: u128,
    },
    /// Day cutover (日切): the books move to `date`. Issued by the engine, in the sequence.
    Cutover {
        date: AccountingDate,
    },
    /// Release a pending transfer whose timeout has passed. Issued by the engine when its clock
    /// passes the deadline, and journaled like any command so replay expires the same transfers.
    ExpirePending {
        pending_id: u128,
    },
}

impl Command {
    pub fn kind(&self) -> &'static str {
        match self {
            Command::CreateAccount(_) => "create_account",
            Command::CreateTransfer(_) => "create_transfer",
            Command::FreezeAccount { .. } => "freeze_account",
            Command::UnfreezeAccount { .. } => "unfreeze_account",
            Command::CloseAccount { .. } => "close_account",
            Command::Cutover { .. } => "cutover",
            Command::ExpirePending { .. } => "expire_pending",
        }
    }

    pub(crate) fn is_linked_transfer(&self) -> bool {
        matches!(self, Command::CreateTransfer(t) if t.flags.linked())
    }
}

/// A command with the engine timestamp it was applied at (nanoseconds since the Unix epoch,
/// strictly increasing along the sequence).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stamped {
    pub timestamp: u64,
    pub command: Command,
}
