//! The allocator of the musl build: dlmalloc (pure Rust, rust-lang's wasm allocator, no C
//! to build) behind std's mutex, with free lists for small blocks in front. musl's malloc cost
//! a run a quarter of its instructions and unmapped pages it soon mapped again (75 munmap
//! calls a run).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use dlmalloc::Dlmalloc;

/// Blocks up to this size are kept by size class when freed, for the next allocation of
/// their class: a run's allocations are nearly all small and of few sizes (strings,
/// tag lists, serde buffers), and dlmalloc's free with its coalescing costs ~130
/// instructions where a list push costs a few.
const SMALL: usize = 512;
/// The class width: also the alignment every small block has (dlmalloc's own).
const CLASS: usize = 16;
const CLASSES: usize = SMALL / CLASS;

/// dlmalloc behind std's futex mutex (a compare-and-swap each way, no allocation), with
/// free lists for small blocks in front. dlmalloc's own `GlobalDlmalloc` locks through
/// musl's pthread mutex instead: 0.4 M instructions of a run's 5.2 M.
pub struct Heap(Mutex<State>);

struct State {
    dlmalloc: Dlmalloc,
    /// Per class, the last freed block; each free block holds the next one's address.
    free: [*mut u8; CLASSES],
}

// SAFETY: the blocks the lists point to are owned by the heap alone, under its lock.
unsafe impl Send for State {}

/// The class of a small layout (`None`: dlmalloc serves it directly).
#[inline]
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= SMALL && layout.align() <= CLASS)
        .then(|| layout.size().div_ceil(CLASS).max(1) - 1)
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

impl Heap {
    pub const fn new() -> Heap {
        Heap(Mutex::new(State {
            dlmalloc: Dlmalloc::new(),
            free: [ptr::null_mut(); CLASSES],
        }))
    }

    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// SAFETY: a small block is always allocated at its class's full size and alignment, so
// any block taken from a class list fits any layout of that class; blocks on the lists
// are free (no caller holds them) and hold the next block's address in their first
// word. Everything else is dlmalloc's, with the caller's layout, as dlmalloc's own
// `GlobalDlmalloc` calls it (dlmalloc-0.2.14 src/global.rs).
unsafe impl GlobalAlloc for Heap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.lock();
        let Some(class) = class(layout) else {
            return unsafe { heap.dlmalloc.malloc(layout.size(), layout.align()) };
        };
        let block = heap.free[class];
        if block.is_null() {
            return unsafe { heap.dlmalloc.malloc((class + 1) * CLASS, CLASS) };
        }
        heap.free[class] = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let mut heap = self.lock();
        match class(layout) {
            Some(class) => {
                unsafe { block.cast::<*mut u8>().write(heap.free[class]) };
                heap.free[class] = block;
            }
            None => unsafe { heap.dlmalloc.free(block, layout.size(), layout.align()) },
        }
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            (Some(old), Some(now)) if old == now => block,
            (None, None) => unsafe {
                let mut heap = self.lock();
                heap.dlmalloc
                    .realloc(block, layout.size(), layout.align(), new_size)
            },
            _ => unsafe {
                let moved = self.alloc(new);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                moved
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step on a private heap: allocate, grow or shrink, or free a live block.
    #[derive(Debug, Clone)]
    enum Step {
        Alloc { size: usize, align_log: u32 },
        Realloc { which: usize, size: usize },
        Free { which: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        // Sizes around the small limit and the class edges, and a few large ones.
        let size = prop_oneof![
            1..=40usize,
            490..=530usize,
            1..=SMALL * 3,
            4000..=70_000usize
        ];
        prop_oneof![
            (size.clone(), 0..=6u32).prop_map(|(size, align_log)| Step::Alloc { size, align_log }),
            (any::<usize>(), size).prop_map(|(which, size)| Step::Realloc { which, size }),
            any::<usize>().prop_map(|which| Step::Free { which }),
        ]
    }

    /// Every live block is filled with its own byte; any overlap or lost byte shows.
    fn check(block: *mut u8, layout: Layout, fill: u8) {
        let bytes = unsafe { std::slice::from_raw_parts(block, layout.size()) };
        assert!(
            bytes.iter().all(|&b| b == fill),
            "block of {layout:?} was overwritten"
        );
        assert_eq!(block as usize % layout.align(), 0, "misaligned {layout:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn blocks_keep_their_bytes_and_alignment(steps in prop::collection::vec(step(), 1..200)) {
            let heap = Heap::new();
            let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
            for (n, step) in steps.into_iter().enumerate() {
                let fill = n as u8;
                match step {
                    Step::Alloc { size, align_log } => {
                        let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
                        let block = unsafe { heap.alloc(layout) };
                        assert!(!block.is_null());
                        unsafe { block.write_bytes(fill, size) };
                        live.push((block, layout, fill));
                    }
                    Step::Realloc { which, size } if !live.is_empty() => {
                        let (block, layout, old) = live.swap_remove(which % live.len());
                        check(block, layout, old);
                        let moved = unsafe { heap.realloc(block, layout, size) };
                        let new = Layout::from_size_align(size, layout.align()).unwrap();
                        // What was kept is the old bytes; the rest is filled anew.
                        check(moved, Layout::from_size_align(size.min(layout.size()), 1).unwrap(), old);
                        unsafe { moved.write_bytes(fill, size) };
                        live.push((moved, new, fill));
                    }
                    Step::Free { which } if !live.is_empty() => {
                        let (block, layout, old) = live.swap_remove(which % live.len());
                        check(block, layout, old);
                        unsafe { heap.dealloc(block, layout) };
                    }
                    _ => {}
                }
            }
            for (block, layout, fill) in live {
                check(block, layout, fill);
                unsafe { heap.dealloc(block, layout) };
            }
        }
    }

    #[test]
    fn a_freed_small_block_is_the_next_of_its_class() {
        let heap = Heap::new();
        let layout = Layout::from_size_align(24, 8).unwrap();
        let first = unsafe { heap.alloc(layout) };
        unsafe { heap.dealloc(first, layout) };
        // 17..=32 bytes share a class: the freed block comes back, from the list.
        let again = unsafe { heap.alloc(Layout::from_size_align(32, 16).unwrap()) };
        assert_eq!(again, first);
        // Growing within the class keeps the block where it is.
        let grown = unsafe { heap.realloc(again, Layout::from_size_align(32, 16).unwrap(), 20) };
        assert_eq!(grown, first);
        unsafe { heap.dealloc(grown, Layout::from_size_align(20, 16).unwrap()) };
    }
}
