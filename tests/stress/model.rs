//! What a stress thread knows of its own domains: only it touches them, so every call on
//! them has one right outcome, which this model predicts from the calls that succeeded
//! before (libvirt 9.0's test driver answers the same, checked with python3-libvirt).

use virshim::abi::virDomainState::{self, *};
use virshim::abi::virErrorDomain::{self, *};
use virshim::abi::virErrorNumber::{self, *};

/// Whether a domain runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Run {
    #[default]
    Off,
    Running,
    Paused,
}

impl Run {
    pub fn state(self) -> virDomainState {
        match self {
            Run::Off => VIR_DOMAIN_SHUTOFF,
            Run::Running => VIR_DOMAIN_RUNNING,
            Run::Paused => VIR_DOMAIN_PAUSED,
        }
    }
}

/// One call a thread makes on a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Define,
    /// `virDomainCreate` through a handle looked up by name.
    Create,
    CreateXml,
    Suspend,
    Resume,
    /// `virDomainSaveFlags` into the domain's image, `VIR_DOMAIN_SAVE_PAUSED` if `paused`.
    Save {
        paused: bool,
    },
    Restore,
    /// The image's XML read, given a new description, and written back.
    ImageEdit,
    Destroy,
    Undefine,
    /// Lookups by name, UUID and ID.
    Lookup,
    /// State, info, activity, persistence and XML.
    Inspect,
}

impl Op {
    /// Every operation, for drawing one at random.
    pub const ALL: [Op; 13] = [
        Op::Define,
        Op::Create,
        Op::CreateXml,
        Op::Suspend,
        Op::Resume,
        Op::Save { paused: false },
        Op::Save { paused: true },
        Op::Restore,
        Op::ImageEdit,
        Op::Destroy,
        Op::Undefine,
        Op::Lookup,
        Op::Inspect,
    ];

    /// The errors a call may meet when other threads change the domain under it.
    pub fn racing_errors(self) -> &'static [virErrorNumber] {
        match self {
            Op::Define => &[],
            Op::Create | Op::Suspend | Op::Resume => &[VIR_ERR_NO_DOMAIN, VIR_ERR_INTERNAL_ERROR],
            Op::CreateXml => &[VIR_ERR_OPERATION_INVALID],
            Op::Save { .. } | Op::Destroy => &[VIR_ERR_NO_DOMAIN, VIR_ERR_OPERATION_INVALID],
            Op::Restore => &[VIR_ERR_OPERATION_INVALID, VIR_ERR_SYSTEM_ERROR],
            Op::ImageEdit => &[VIR_ERR_SYSTEM_ERROR],
            Op::Undefine | Op::Lookup | Op::Inspect => &[VIR_ERR_NO_DOMAIN],
        }
    }
}

/// The error domain libvirt's test driver reports each of these codes in.
pub fn error_domain(code: virErrorNumber) -> virErrorDomain {
    match code {
        VIR_ERR_OPERATION_INVALID => VIR_FROM_DOMAIN,
        _ => VIR_FROM_TEST,
    }
}

/// One domain as its thread's successful calls left it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Own {
    pub persistent: bool,
    pub run: Run,
    /// The state a restore of the domain's image starts in, once an image was saved.
    pub image: Option<Run>,
}

impl Own {
    pub fn exists(&self) -> bool {
        self.persistent || self.run != Run::Off
    }

    /// The domain after `op` succeeds, or the code `op` must fail with.
    pub fn expect(self, op: Op) -> Result<Own, virErrorNumber> {
        let found = if self.exists() {
            Ok(())
        } else {
            Err(VIR_ERR_NO_DOMAIN)
        };
        let mut next = self;
        match op {
            Op::Define => next.persistent = true,
            Op::Create => {
                found?;
                if self.run != Run::Off {
                    return Err(VIR_ERR_INTERNAL_ERROR);
                }
                next.run = Run::Running;
            }
            Op::CreateXml => {
                if self.run != Run::Off {
                    return Err(VIR_ERR_OPERATION_INVALID);
                }
                next.run = Run::Running;
            }
            Op::Suspend | Op::Resume => {
                found?;
                let (from, to) = if op == Op::Suspend {
                    (Run::Running, Run::Paused)
                } else {
                    (Run::Paused, Run::Running)
                };
                if self.run != from {
                    return Err(VIR_ERR_INTERNAL_ERROR);
                }
                next.run = to;
            }
            Op::Save { paused } => {
                found?;
                if self.run == Run::Off {
                    return Err(VIR_ERR_OPERATION_INVALID);
                }
                next.run = Run::Off;
                next.image = Some(if paused { Run::Paused } else { Run::Running });
            }
            Op::Restore => {
                let restored = self.image.ok_or(VIR_ERR_SYSTEM_ERROR)?;
                if self.run != Run::Off {
                    return Err(VIR_ERR_OPERATION_INVALID);
                }
                next.run = restored;
            }
            Op::ImageEdit => {
                self.image.ok_or(VIR_ERR_SYSTEM_ERROR)?;
            }
            Op::Destroy => {
                found?;
                if self.run == Run::Off {
                    return Err(VIR_ERR_OPERATION_INVALID);
                }
                next.run = Run::Off;
            }
            Op::Undefine => {
                found?;
                next.persistent = false;
            }
            Op::Lookup | Op::Inspect => found?,
        }
        Ok(next)
    }
}

/// A small deterministic generator (xorshift64*), so that a failing run can be repeated
/// from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_follows_libvirts_test_driver() {
        let none = Own::default();
        assert_eq!(none.expect(Op::Create), Err(VIR_ERR_NO_DOMAIN));
        let running = none.expect(Op::CreateXml).unwrap();
        assert!(running.exists() && !running.persistent);
        let saved = running.expect(Op::Save { paused: true }).unwrap();
        assert!(!saved.exists(), "a transient domain goes when saved");
        assert_eq!(saved.expect(Op::Restore).unwrap().run, Run::Paused);
        assert_eq!(
            saved.expect(Op::Restore).unwrap().expect(Op::Suspend),
            Err(VIR_ERR_INTERNAL_ERROR)
        );
    }
}
