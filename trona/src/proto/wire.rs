//! The protocol wire format, pure: messages as words, their encoders and decoders, bounded byte strings, and received-capability checks (no syscalls, so host tests reach it).
//!
//! Every value is a sequence of 64-bit message words: integers, `bool`, object types, flag
//! sets and bitfields one word each (zero-extended); fixed-size byte arrays and structures
//! their bytes packed little-endian, eight to a word, the tail of the last word zero; byte
//! strings a length word, then their bytes packed the same way. Capabilities travel beside
//! the words. The generated code in `trona::protocols` decides the order; this module has
//! no numbers of its own beyond the message bounds of the `abi` crate.

use core::fmt;
use core::mem::MaybeUninit;

use abi::{CPtr, CapIdentity, MSG_MAX_CAPS, MSG_MAX_LENGTH, ObjectType, Rights};

/// The most words a message carries.
pub const MAX_WORDS: usize = MSG_MAX_LENGTH as usize;

/// The most capabilities a message carries.
pub const MAX_CAPS: usize = MSG_MAX_CAPS as usize;

/// A message that does not decode: too short or too long, a value out of range, a length
/// above its maximum, a non-zero tail, bad UTF-8, a capability too many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Why a received capability is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapProblem {
    /// The message carries fewer capabilities, or the slot is empty.
    Missing,
    /// The capability refers to another object type.
    WrongObjectType,
    /// The capability lacks a right the message needs.
    InsufficientRights,
}

/// Up to `MAX_WORDS` message words. Only the words pushed are ever written, so a message
/// costs what it carries, not a clear of the whole array (a round trip builds four).
#[derive(Clone, Copy)]
struct Words {
    words: [MaybeUninit<u64>; MAX_WORDS],
    len: usize,
}

impl Words {
    /// Forgets every word (they stay as they were, unread).
    fn clear(&mut self) {
        self.len = 0;
    }

    const fn new() -> Words {
        Words {
            // SAFETY: an array of `MaybeUninit` needs no initialization. Built this way
            // rather than element by element, the compiler does not clear it.
            words: unsafe { MaybeUninit::<[MaybeUninit<u64>; MAX_WORDS]>::uninit().assume_init() },
            len: 0,
        }
    }

    /// Appends `word`; false (and nothing changed) when all `MAX_WORDS` are taken.
    fn push(&mut self, word: u64) -> bool {
        match self.words.get_mut(self.len) {
            Some(slot) => {
                slot.write(word);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[u64] {
        // SAFETY: `words[..len]` were each written by `push`, the only place `len` grows,
        // and `MaybeUninit<u64>` has the size and alignment of `u64`.
        unsafe { core::slice::from_raw_parts(self.words.as_ptr().cast::<u64>(), self.len) }
    }
}

impl fmt::Debug for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A message to send: label, words and capabilities.
#[derive(Clone, Debug)]
pub struct Outgoing {
    label: u64,
    words: Words,
    caps: [CPtr; MAX_CAPS],
    cap_count: usize,
    overflow: bool,
}

impl Outgoing {
    /// An empty message with `label` (a request's message label, 0 for a successful
    /// reply, an error code for a failed one).
    pub fn new(label: u64) -> Outgoing {
        Outgoing {
            label,
            words: Words::new(),
            caps: [CPtr(0); MAX_CAPS],
            cap_count: 0,
            overflow: false,
        }
    }

    /// Empties the message and gives it `label`, in place (a message is a kilobyte: a
    /// loop reuses one instead of building a new one per reply).
    pub fn reset(&mut self, label: u64) {
        self.label = label;
        self.words.clear();
        self.cap_count = 0;
        self.overflow = false;
    }

    /// The label.
    pub fn label(&self) -> u64 {
        self.label
    }

    /// The words so far.
    pub fn words(&self) -> &[u64] {
        self.words.as_slice()
    }

    /// The capabilities so far.
    pub fn caps(&self) -> &[CPtr] {
        &self.caps[..self.cap_count]
    }

    /// Whether more words or capabilities were added than a message holds (they were
    /// dropped; the transport refuses to send such a message).
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Appends one word.
    pub fn word(&mut self, word: u64) {
        if !self.words.push(word) {
            self.overflow = true;
        }
    }

    /// Appends `bytes` packed: `ceil(len / 8)` words, little-endian, the tail zero.
    pub fn packed(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            // Eight bytes at a time without a copy call per word.
            for (to, from) in word.iter_mut().zip(chunk) {
                *to = *from;
            }
            self.word(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            for (to, from) in word.iter_mut().zip(tail) {
                *to = *from;
            }
            self.word(u64::from_le_bytes(word));
        }
    }

    /// Appends a byte string of at most `max` bytes: its length, then its bytes packed;
    /// `Malformed` (and nothing appended) when it is longer.
    pub fn sized(&mut self, bytes: &[u8], max: usize) -> Result<(), Malformed> {
        if bytes.len() > max {
            return Err(Malformed);
        }
        self.word(bytes.len() as u64);
        self.packed(bytes);
        Ok(())
    }

    /// Appends the optional capabilities that are present, which must be a prefix of
    /// `caps` (the receiver counts them): `Malformed` when one follows an absent one.
    pub fn optional_caps(&mut self, caps: &[Option<CPtr>]) -> Result<(), Malformed> {
        let present = caps.iter().take_while(|cap| cap.is_some()).count();
        if caps[present..].iter().any(Option::is_some) {
            return Err(Malformed);
        }
        for cap in caps.iter().flatten() {
            self.cap(*cap);
        }
        Ok(())
    }

    /// Appends a capability to send.
    pub fn cap(&mut self, cap: CPtr) {
        match self.caps.get_mut(self.cap_count) {
            Some(slot) => {
                *slot = cap;
                self.cap_count += 1;
            }
            None => self.overflow = true,
        }
    }
}

/// What a server's method learns about the message besides its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The badge of the endpoint capability the client sent on (0 if unbadged).
    pub badge: u64,
    /// The message label.
    pub label: u64,
}

/// A capability that arrived with a message: where it landed and what it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceivedCap {
    /// The slot (in the receiver's CSpace root) it landed in.
    pub slot: CPtr,
    /// Its object type and rights (`CNode.identify`); object type 0 when the slot is empty.
    pub identity: CapIdentity,
}

/// A received message, copied out of the registers and the IPC buffer so that the reply
/// can reuse the buffer.
#[derive(Clone, Debug)]
pub struct Incoming {
    label: u64,
    badge: u64,
    words: Words,
    caps: [ReceivedCap; MAX_CAPS],
    cap_count: usize,
}

impl Incoming {
    /// A message with `label` from a sender with `badge`, no words and no capabilities yet.
    pub fn new(label: u64, badge: u64) -> Incoming {
        Incoming {
            label,
            badge,
            words: Words::new(),
            caps: [ReceivedCap::default(); MAX_CAPS],
            cap_count: 0,
        }
    }

    /// Empties the message and gives it `label` and `badge`, in place.
    pub fn reset(&mut self, label: u64, badge: u64) {
        self.label = label;
        self.badge = badge;
        self.words.clear();
        self.cap_count = 0;
    }

    /// Appends a received word; `Malformed` past `MAX_WORDS`.
    pub fn push_word(&mut self, word: u64) -> Result<(), Malformed> {
        if self.words.push(word) {
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Appends a received capability; `Malformed` past `MAX_CAPS`.
    pub fn push_cap(&mut self, cap: ReceivedCap) -> Result<(), Malformed> {
        let slot = self.caps.get_mut(self.cap_count).ok_or(Malformed)?;
        *slot = cap;
        self.cap_count += 1;
        Ok(())
    }

    /// The label.
    pub fn label(&self) -> u64 {
        self.label
    }

    /// The sender's badge.
    pub fn badge(&self) -> u64 {
        self.badge
    }

    /// The words.
    pub fn words(&self) -> &[u64] {
        self.words.as_slice()
    }

    /// The capabilities that arrived.
    pub fn caps(&self) -> &[ReceivedCap] {
        &self.caps[..self.cap_count]
    }

    /// The slot capability `index` landed in, if the message carries it (a client's view
    /// of the capabilities in a reply, which it does not identify).
    pub fn cap_slot(&self, index: usize) -> Option<CPtr> {
        self.caps().get(index).map(|cap| cap.slot)
    }

    /// What a server method learns about this message.
    pub fn request(&self) -> Request {
        Request {
            badge: self.badge,
            label: self.label,
        }
    }

    /// A decoder over the words.
    pub fn decoder(&self) -> Decoder<'_> {
        Decoder::new(self.words())
    }

    /// Capability `index`, which must be present, of type `object` (if given) with `rights`.
    pub fn cap(
        &self,
        index: usize,
        object: Option<ObjectType>,
        rights: Rights,
    ) -> Result<CPtr, CapProblem> {
        self.optional_cap(index, object, rights)?
            .ok_or(CapProblem::Missing)
    }

    /// Capability `index` if the message carries it, checked as [`Incoming::cap`].
    pub fn optional_cap(
        &self,
        index: usize,
        object: Option<ObjectType>,
        rights: Rights,
    ) -> Result<Option<CPtr>, CapProblem> {
        let Some(cap) = self.caps().get(index) else {
            return Ok(None);
        };
        let found = u64::from(cap.identity.object_type());
        if found == 0 {
            return Err(CapProblem::Missing);
        }
        if object.is_some_and(|object| object.id() != found) {
            return Err(CapProblem::WrongObjectType);
        }
        let held = u64::from(cap.identity.rights());
        if held & rights.bits() != rights.bits() {
            return Err(CapProblem::InsufficientRights);
        }
        Ok(Some(cap.slot))
    }
}

/// Reads values off a message's words in order.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    words: &'a [u64],
    at: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the first of `words`.
    pub fn new(words: &'a [u64]) -> Decoder<'a> {
        Decoder { words, at: 0 }
    }

    /// The next word.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let word = *self.words.get(self.at).ok_or(Malformed)?;
        self.at += 1;
        Ok(word)
    }

    /// The next word as a `u32`; `Malformed` when it is larger.
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.u64()?).map_err(|_| Malformed)
    }

    /// The next word as a `u16`; `Malformed` when it is larger.
    pub fn u16(&mut self) -> Result<u16, Malformed> {
        u16::try_from(self.u64()?).map_err(|_| Malformed)
    }

    /// The next word as a `u8`; `Malformed` when it is larger.
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        u8::try_from(self.u64()?).map_err(|_| Malformed)
    }

    /// The next word as a `bool`; `Malformed` unless it is 0 or 1.
    pub fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u64()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed),
        }
    }

    /// The next word as an object type; `Malformed` for an unknown id.
    pub fn object_type(&mut self) -> Result<ObjectType, Malformed> {
        ObjectType::try_from(self.u64()?).map_err(|_| Malformed)
    }

    /// `N` bytes packed in `ceil(N / 8)` words; `Malformed` if the tail is not zero.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0u8; N];
        self.unpack(&mut out)?;
        Ok(out)
    }

    /// A byte string of at most `max` bytes into `out` (at least `max` long): the bytes.
    pub fn sized<'b>(&mut self, max: usize, out: &'b mut [u8]) -> Result<&'b [u8], Malformed> {
        let len = usize::try_from(self.u64()?).map_err(|_| Malformed)?;
        if len > max {
            return Err(Malformed);
        }
        let out = out.get_mut(..len).ok_or(Malformed)?;
        self.unpack(out)?;
        Ok(out)
    }

    /// A UTF-8 string of at most `max` bytes into `out`, as [`Decoder::sized`].
    pub fn text<'b>(&mut self, max: usize, out: &'b mut [u8]) -> Result<&'b str, Malformed> {
        let bytes = self.sized(max, out)?;
        core::str::from_utf8(bytes).map_err(|_| Malformed)
    }

    /// A byte string of at most `M` bytes, by value.
    pub fn bytes_value<const M: usize>(&mut self) -> Result<Bytes<M>, Malformed> {
        let mut out = Bytes::<M>::empty();
        out.len = self.sized(M, &mut out.data)?.len();
        Ok(out)
    }

    /// A UTF-8 string of at most `M` bytes, by value.
    pub fn text_value<const M: usize>(&mut self) -> Result<Bytes<M>, Malformed> {
        let out = self.bytes_value::<M>()?;
        out.as_str().ok_or(Malformed)?;
        Ok(out)
    }

    /// Succeeds when every word was read: a longer message is malformed.
    pub fn finish(self) -> Result<(), Malformed> {
        if self.at == self.words.len() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Fills `out` from packed words; the unused tail of the last word must be zero.
    fn unpack(&mut self, out: &mut [u8]) -> Result<(), Malformed> {
        for chunk in out.chunks_mut(8) {
            let word = self.u64()?;
            // The bytes past the chunk (a short last chunk) must be zero.
            if chunk.len() < 8 && word >> (8 * chunk.len()) != 0 {
                return Err(Malformed);
            }
            for (to, from) in chunk.iter_mut().zip(word.to_le_bytes()) {
                *to = from;
            }
        }
        Ok(())
    }
}

/// A byte string of at most `M` bytes, by value: what a `bytes` or `string` result is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bytes<const M: usize> {
    len: usize,
    data: [u8; M],
}

impl<const M: usize> Bytes<M> {
    /// No bytes.
    pub const fn empty() -> Bytes<M> {
        Bytes {
            len: 0,
            data: [0; M],
        }
    }

    /// A copy of `bytes`; `None` when it is longer than `M`.
    pub fn new(bytes: &[u8]) -> Option<Bytes<M>> {
        let mut out = Bytes::empty();
        out.data.get_mut(..bytes.len())?.copy_from_slice(bytes);
        out.len = bytes.len();
        Some(out)
    }

    /// A copy of `text`; `None` when it is longer than `M` bytes.
    pub fn text(text: &str) -> Option<Bytes<M>> {
        Bytes::new(text.as_bytes())
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// The bytes as UTF-8, if they are.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_slice()).ok()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const M: usize> Default for Bytes<M> {
    fn default() -> Bytes<M> {
        Bytes::empty()
    }
}

/// Writes the low `size` bytes of `value` little-endian at `at` in `bytes` (a structure's
/// field); bytes past the end are dropped.
pub fn put_le(bytes: &mut [u8], at: usize, size: usize, value: u64) {
    for (i, byte) in value.to_le_bytes().iter().take(size).enumerate() {
        if let Some(slot) = bytes.get_mut(at + i) {
            *slot = *byte;
        }
    }
}

/// Reads `size` bytes little-endian at `at` in `bytes` (a structure's field); bytes past
/// the end read as zero.
pub fn get_le(bytes: &[u8], at: usize, size: usize) -> u64 {
    let mut word = [0u8; 8];
    for (i, slot) in word.iter_mut().take(size).enumerate() {
        *slot = bytes.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(word)
}

// Built and run on the host by abigen's `tests/proto_wire.rs` (trona itself only builds
// for the kernite targets).
#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(words: &[u64]) -> Decoder<'_> {
        Decoder::new(words)
    }

    #[test]
    fn scalars_round_trip_and_narrow_ints_are_range_checked() {
        let mut out = Outgoing::new(7);
        out.word(u64::from(u8::MAX));
        out.word(u64::from(u16::MAX));
        out.word(u64::from(u32::MAX));
        out.word(u64::MAX);
        out.word(1);
        out.word(ObjectType::Endpoint.id());
        let mut d = decode_all(out.words());
        assert_eq!(d.u8(), Ok(u8::MAX));
        assert_eq!(d.u16(), Ok(u16::MAX));
        assert_eq!(d.u32(), Ok(u32::MAX));
        assert_eq!(d.u64(), Ok(u64::MAX));
        assert_eq!(d.bool(), Ok(true));
        assert_eq!(d.object_type(), Ok(ObjectType::Endpoint));
        assert_eq!(d.finish(), Ok(()));

        assert_eq!(decode_all(&[0x100]).u8(), Err(Malformed));
        assert_eq!(decode_all(&[0x1_0000]).u16(), Err(Malformed));
        assert_eq!(decode_all(&[0x1_0000_0000]).u32(), Err(Malformed));
        assert_eq!(decode_all(&[2]).bool(), Err(Malformed));
        assert_eq!(decode_all(&[0xffff]).object_type(), Err(Malformed));
        assert_eq!(decode_all(&[]).u64(), Err(Malformed));
    }

    #[test]
    fn a_longer_message_is_malformed() {
        let words = [1, 2];
        let mut d = decode_all(&words);
        assert_eq!(d.u64(), Ok(1));
        assert_eq!(d.finish(), Err(Malformed));
    }

    #[test]
    fn byte_strings_round_trip_at_every_length() {
        let data: [u8; 40] = core::array::from_fn(|i| i as u8 + 1);
        for len in 0..=data.len() {
            let mut out = Outgoing::new(0);
            out.sized(&data[..len], 40).unwrap();
            assert_eq!(out.words().len(), 1 + len.div_ceil(8), "length {len}");
            let mut buffer = [0u8; 40];
            let mut d = decode_all(out.words());
            assert_eq!(d.sized(40, &mut buffer), Ok(&data[..len]));
            assert_eq!(d.finish(), Ok(()));
            let value = decode_all(out.words()).bytes_value::<40>().unwrap();
            assert_eq!(value.as_slice(), &data[..len]);
        }
    }

    #[test]
    fn hostile_lengths_are_malformed() {
        let mut buffer = [0u8; 16];
        // Above the maximum, however many words follow.
        assert_eq!(
            decode_all(&[17, 0, 0, 0]).sized(16, &mut buffer),
            Err(Malformed)
        );
        assert_eq!(
            decode_all(&[u64::MAX]).sized(16, &mut buffer),
            Err(Malformed)
        );
        // Within the maximum, but the words are missing.
        assert_eq!(decode_all(&[9, 0]).sized(16, &mut buffer), Err(Malformed));
        assert_eq!(decode_all(&[]).sized(16, &mut buffer), Err(Malformed));
        // The sender refuses to encode one that is too long.
        let mut out = Outgoing::new(0);
        assert_eq!(out.sized(&[0; 17], 16), Err(Malformed));
        assert!(out.words().is_empty());
    }

    #[test]
    fn non_zero_tails_are_malformed() {
        let mut buffer = [0u8; 16];
        // Three bytes announced, a fourth set in the word.
        let word = u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 0]);
        assert_eq!(
            decode_all(&[3, word]).sized(16, &mut buffer),
            Err(Malformed)
        );
        assert_eq!(
            decode_all(&[word]).array::<3>(),
            Err(Malformed),
            "a fixed array's tail"
        );
        assert_eq!(decode_all(&[word]).array::<4>(), Ok([1, 2, 3, 4]));
    }

    #[test]
    fn fixed_arrays_round_trip() {
        let key: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
        let mut out = Outgoing::new(0);
        out.packed(&key);
        assert_eq!(out.words().len(), 2);
        assert_eq!(decode_all(out.words()).array::<16>(), Ok(key));
        assert_eq!(decode_all(&out.words()[..1]).array::<16>(), Err(Malformed));
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut buffer = [0u8; 8];
        let mut out = Outgoing::new(0);
        out.sized("héllo".as_bytes(), 8).unwrap();
        assert_eq!(decode_all(out.words()).text(8, &mut buffer), Ok("héllo"));
        let bad = u64::from_le_bytes([0xff, 0xfe, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_all(&[2, bad]).text(8, &mut buffer), Err(Malformed));
        assert_eq!(decode_all(&[2, bad]).text_value::<8>(), Err(Malformed));
        assert!(decode_all(&[2, bad]).bytes_value::<8>().is_ok());
    }

    #[test]
    fn overflow_is_recorded_not_panicked() {
        let mut out = Outgoing::new(0);
        for i in 0..=MAX_WORDS as u64 {
            out.word(i);
        }
        assert!(out.overflowed());
        assert_eq!(out.words().len(), MAX_WORDS);
        let mut caps = Outgoing::new(0);
        for i in 0..=MAX_CAPS as u64 {
            caps.cap(CPtr(i));
        }
        assert!(caps.overflowed());
        let mut incoming = Incoming::new(0, 0);
        for i in 0..MAX_WORDS as u64 {
            incoming.push_word(i).unwrap();
        }
        assert_eq!(incoming.push_word(0), Err(Malformed));
    }

    #[test]
    fn optional_caps_are_a_prefix() {
        let mut out = Outgoing::new(0);
        out.optional_caps(&[Some(CPtr(5)), None]).unwrap();
        assert_eq!(out.caps(), &[CPtr(5)]);
        let mut gap = Outgoing::new(0);
        assert_eq!(gap.optional_caps(&[None, Some(CPtr(5))]), Err(Malformed));
        assert!(gap.caps().is_empty());
    }

    #[test]
    fn received_caps_are_checked_for_presence_type_and_rights() {
        let notification = CapIdentity::new()
            .with_object_type(ObjectType::Notification.id() as u8)
            .with_rights(Rights::WRITE.bits() as u8);
        let mut incoming = Incoming::new(0, 0);
        incoming
            .push_cap(ReceivedCap {
                slot: CPtr(30),
                identity: notification,
            })
            .unwrap();
        incoming.push_cap(ReceivedCap::default()).unwrap();
        let notif = Some(ObjectType::Notification);
        assert_eq!(incoming.cap(0, notif, Rights::WRITE), Ok(CPtr(30)));
        assert_eq!(incoming.cap(0, None, Rights::empty()), Ok(CPtr(30)));
        assert_eq!(
            incoming.cap(0, Some(ObjectType::Endpoint), Rights::empty()),
            Err(CapProblem::WrongObjectType)
        );
        assert_eq!(
            incoming.cap(0, notif, Rights::READ | Rights::WRITE),
            Err(CapProblem::InsufficientRights)
        );
        // An empty slot (a capability that did not land) and one beyond the count.
        assert_eq!(
            incoming.cap(1, None, Rights::empty()),
            Err(CapProblem::Missing)
        );
        assert_eq!(
            incoming.cap(2, None, Rights::empty()),
            Err(CapProblem::Missing)
        );
        assert_eq!(incoming.optional_cap(2, None, Rights::empty()), Ok(None));
    }

    #[test]
    fn struct_bytes_helpers_stay_in_bounds() {
        let mut bytes = [0u8; 12];
        put_le(&mut bytes, 8, 8, u64::MAX);
        assert_eq!(bytes[8..], [0xff; 4]);
        assert_eq!(get_le(&bytes, 8, 8), 0xffff_ffff);
        assert_eq!(get_le(&bytes, 100, 8), 0);
    }

    #[test]
    fn bytes_values_refuse_what_does_not_fit() {
        assert!(Bytes::<4>::new(&[1, 2, 3, 4, 5]).is_none());
        let text = Bytes::<8>::text("abc").unwrap();
        assert_eq!(text.as_str(), Some("abc"));
        assert_eq!(text.len(), 3);
        assert!(Bytes::<8>::default().is_empty());
    }
}
