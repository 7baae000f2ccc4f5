//! IPC over the generated stubs: messages to build and to read, the thread's IPC buffer and its receive slot.
//!
//! A message is a label, up to `MSG_MAX_LENGTH` words and up to `MSG_MAX_CAPS`
//! capabilities. Word `i` travels in message register `i` while `i < MESSAGE_REGISTERS`
//! (an architecture's choice, from the schema) and in the IPC buffer's `msg[i]` beyond;
//! capabilities are named in the buffer's `caps`. This module hides the split:
//!
//! ```ignore
//! let mut buffer = unsafe { ipc::Buffer::at(buffer_address) };
//! let mut request = ipc::Message::new(OPEN);
//! request.push(flags)?;
//! let reply = substrate::call(server, &request.registers(Some(&mut buffer))?)?;
//! let handle = ipc::word(&reply, 0, Some(&buffer));
//! ```
//!
//! Register-only messages need no buffer at all ([`Message::registers`] with no buffer
//! words). Nothing here has numbers of its own: labels and lengths come from the caller
//! and the schema.

use abi::{
    CPtr, Error, IpcBuffer, IpcMessage, MESSAGE_REGISTERS, MSG_MAX_CAPS, MSG_MAX_LENGTH,
    MessageInfo, Received,
};

/// A thread's IPC buffer: the words of a message beyond its registers, the capabilities it
/// carries, and where received capabilities go.
///
/// `Clone` copies the address, so that several clients of one thread share its buffer;
/// the raw pointer keeps it off other threads (`!Send`).
#[derive(Clone, Debug)]
pub struct Buffer {
    ptr: *mut IpcBuffer,
}

impl Buffer {
    /// The IPC buffer at `address`.
    ///
    /// # Safety
    ///
    /// `address` is page-aligned, mapped read-write in this address space for as long as
    /// the `Buffer` lives, and is the IPC buffer of the calling thread (the one set with
    /// `Tcb.set_ipc_buffer`), used by no other code while the `Buffer` lives.
    pub unsafe fn at(address: u64) -> Buffer {
        Buffer {
            ptr: address as usize as *mut IpcBuffer,
        }
    }

    /// The buffer's address.
    pub fn address(&self) -> u64 {
        self.ptr as usize as u64
    }

    /// Sets the first slot (in this thread's CSpace root) that received capabilities go to
    /// (capability `i` of a message lands in `slot + i`); `CPtr(0)` receives none.
    pub fn set_receive_slot(&mut self, slot: CPtr) {
        // SAFETY: `at`'s contract: the buffer is mapped read-write and ours alone.
        unsafe { (*self.ptr).receive_slot = slot.0 };
    }

    /// Message word `index` (only meaningful for `index >= MESSAGE_REGISTERS`).
    fn word(&self, index: usize) -> u64 {
        // SAFETY: As in `set_receive_slot`; callers keep `index < MSG_MAX_LENGTH`.
        unsafe { (*self.ptr).msg[index] }
    }

    /// The badge of the unwrapped capability `index` of the last message received.
    pub fn badge(&self, index: usize) -> Option<u64> {
        // SAFETY: As in `set_receive_slot`.
        (index < MSG_MAX_CAPS as usize).then(|| unsafe { (*self.ptr).badges[index] })
    }
}

/// A message being built.
#[derive(Clone, Debug)]
pub struct Message {
    label: u64,
    words: [u64; MSG_MAX_LENGTH as usize],
    len: usize,
    caps: [CPtr; MSG_MAX_CAPS as usize],
    cap_count: usize,
}

impl Message {
    /// An empty message with `label`.
    pub fn new(label: u64) -> Message {
        Message {
            label,
            words: [0; MSG_MAX_LENGTH as usize],
            len: 0,
            caps: [CPtr(0); MSG_MAX_CAPS as usize],
            cap_count: 0,
        }
    }

    /// Appends a word; `InvalidArgument` when the message already has `MSG_MAX_LENGTH`.
    pub fn push(&mut self, word: u64) -> Result<&mut Message, Error> {
        let slot = self.words.get_mut(self.len).ok_or(Error::InvalidArgument)?;
        *slot = word;
        self.len += 1;
        Ok(self)
    }

    /// Appends words, as [`Message::push`].
    pub fn extend(&mut self, words: &[u64]) -> Result<&mut Message, Error> {
        for &word in words {
            self.push(word)?;
        }
        Ok(self)
    }

    /// Adds a capability to send (the endpoint capability needs the grant right);
    /// `InvalidArgument` beyond `MSG_MAX_CAPS`.
    pub fn cap(&mut self, cap: CPtr) -> Result<&mut Message, Error> {
        let slot = self
            .caps
            .get_mut(self.cap_count)
            .ok_or(Error::InvalidArgument)?;
        *slot = cap;
        self.cap_count += 1;
        Ok(self)
    }

    /// The number of words.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message has no words.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the message fits the registers alone (no buffer words, no capabilities).
    pub fn fits_registers(&self) -> bool {
        self.len <= MESSAGE_REGISTERS && self.cap_count == 0
    }

    /// The registers to send: the info word and the first words; the rest of the words and
    /// the capabilities are written into `buffer`. `NoIpcBuffer` if they need a buffer and
    /// none is given.
    pub fn registers(&self, buffer: Option<&mut Buffer>) -> Result<IpcMessage, Error> {
        encode(
            self.label,
            &self.words[..self.len],
            &self.caps[..self.cap_count],
            buffer,
        )
    }
}

/// The registers to send for a message of `label`, `words` and `caps`: the info word and
/// the first words; the rest and the capabilities are written into `buffer`.
/// `InvalidArgument` for a label the info word cannot hold or too many words or
/// capabilities; `NoIpcBuffer` if they need a buffer and none is given.
pub fn encode(
    label: u64,
    words: &[u64],
    caps: &[CPtr],
    buffer: Option<&mut Buffer>,
) -> Result<IpcMessage, Error> {
    if words.len() > MSG_MAX_LENGTH as usize || caps.len() > MSG_MAX_CAPS as usize {
        return Err(Error::InvalidArgument);
    }
    let info = MessageInfo::new()
        .try_with_label(label)
        .ok_or(Error::InvalidArgument)?
        .with_length(words.len() as u8)
        .with_caps(caps.len() as u8);
    let mut regs = [0; MESSAGE_REGISTERS];
    let in_registers = words.len().min(MESSAGE_REGISTERS);
    regs[..in_registers].copy_from_slice(&words[..in_registers]);
    if words.len() > MESSAGE_REGISTERS || !caps.is_empty() {
        let buffer = buffer.ok_or(Error::NoIpcBuffer)?;
        // SAFETY: `Buffer::at`'s contract: mapped read-write and ours alone.
        let raw = unsafe { &mut *buffer.ptr };
        raw.msg[in_registers..words.len()].copy_from_slice(&words[in_registers..]);
        for (slot, cap) in raw.caps.iter_mut().zip(caps) {
            *slot = cap.0;
        }
    }
    Ok(IpcMessage { info, regs })
}

/// A register-only message: `label` and up to `MESSAGE_REGISTERS` words (`InvalidArgument`
/// for more).
pub fn short(label: u64, words: &[u64]) -> Result<IpcMessage, Error> {
    if words.len() > MESSAGE_REGISTERS {
        return Err(Error::InvalidArgument);
    }
    let mut regs = [0; MESSAGE_REGISTERS];
    regs[..words.len()].copy_from_slice(words);
    Ok(IpcMessage {
        info: MessageInfo::new()
            .try_with_label(label)
            .ok_or(Error::InvalidArgument)?
            .with_length(words.len() as u8),
        regs,
    })
}

/// Word `index` of a received message: from the registers, or from `buffer` beyond them;
/// `None` past the message's length (or beyond the registers without a buffer).
pub fn word(received: &Received, index: usize, buffer: Option<&Buffer>) -> Option<u64> {
    if index >= usize::from(received.message.info.length()) {
        return None;
    }
    match received.message.regs.get(index) {
        Some(&word) => Some(word),
        None => buffer.map(|buffer| buffer.word(index)),
    }
}

/// The label of a received message.
pub fn label(received: &Received) -> u64 {
    received.message.info.label()
}
