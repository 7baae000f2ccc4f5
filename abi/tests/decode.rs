//! The generated ABI tables agree with themselves: every number decodes back to its entry and nothing else decodes.

use abi::{Error, Invocation, ObjectType, Rights, Syscall};

#[test]
fn syscalls_round_trip() {
    for &syscall in Syscall::ALL {
        assert_eq!(
            Syscall::try_from(syscall.number()),
            Ok(syscall),
            "{}",
            syscall.name()
        );
    }
    let unused = (0..)
        .find(|n| !Syscall::ALL.iter().any(|s| s.number() == *n))
        .unwrap_or(u64::MAX);
    assert!(Syscall::try_from(unused).is_err());
}

#[test]
fn invocations_decode_only_on_their_own_object_type() {
    for &invocation in Invocation::ALL {
        let object = invocation.object();
        assert!(
            object.label_block().contains(&invocation.label()),
            "{}",
            invocation.name()
        );
        assert_eq!(
            Invocation::decode(object, invocation.label()),
            Some(invocation),
            "{}",
            invocation.name()
        );
        for &other in ObjectType::ALL.iter().filter(|o| **o != object) {
            assert_eq!(
                Invocation::decode(other, invocation.label()),
                None,
                "{} on {}",
                invocation.name(),
                other.name()
            );
        }
    }
    for &object in ObjectType::ALL {
        for label in object.label_block() {
            let defined = Invocation::ALL
                .iter()
                .any(|i| i.object() == object && i.label() == label);
            assert_eq!(
                Invocation::decode(object, label).is_some(),
                defined,
                "{} {label:#x}",
                object.name()
            );
        }
    }
}

#[test]
fn object_types_and_errors_round_trip() {
    for &object in ObjectType::ALL {
        assert_eq!(ObjectType::try_from(object.id()), Ok(object));
    }
    for &error in Error::ALL {
        assert_eq!(Error::try_from(error.code()), Ok(error));
        assert_eq!(Error::from_code(error.code()), error);
    }
    let unknown = Error::ALL.iter().map(|e| e.code()).max().unwrap_or(0) + 1;
    assert_eq!(Error::from_code(unknown), Error::UnknownError);
    assert_eq!(Error::try_from(0), Err(()));
}

#[test]
fn rights_reject_unknown_bits() {
    assert_eq!(Rights::from_bits(Rights::ALL.bits()), Some(Rights::ALL));
    assert_eq!(Rights::from_bits(!Rights::ALL.bits()), None);
    assert!(Rights::ALL.contains(Rights::READ.union(Rights::WRITE)));
    assert!(!Rights::READ.contains(Rights::WRITE));
    assert_eq!(Rights::READ.intersection(Rights::WRITE), Rights::empty());
}
