// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html), as
// leveldb's port/thread_annotations.h: the lock rules that comments used to state ("guarded by
// mu_"), written so that `clang++ -Wthread-safety` checks them at compile time.  Under any other
// compiler (GCC builds the default tree) every macro expands to nothing.
//
// Usage (imgsink/sync/mutex.h has the annotated Mutex these name):
//   Mutex mu_;
//   int count_ GUARDED_BY(mu_);          // read or written only with mu_ held
//   void BumpLocked() REQUIRES(mu_);     // the caller holds mu_
//   void Flush() EXCLUDES(mu_);          // the caller must not hold mu_ (it locks it)
//
// Not installed: the client's public headers never include it (only its sources do).
#ifndef IMGSINK_SYNC_THREAD_ANNOTATIONS_H_
#define IMGSINK_SYNC_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define IMGSINK_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define IMGSINK_THREAD_ANNOTATION_(x)  // no-op
#endif

// The macros keep the names of Clang's documentation (and abseil's), defined only if no other
// header (a dependency with the same convention) defined them first.

// A class that is a lock ("capability"), e.g. Mutex.
#ifndef CAPABILITY
#define CAPABILITY(x) IMGSINK_THREAD_ANNOTATION_(capability(x))
#endif

// An RAII class that holds a capability for its lifetime, e.g. MutexLock.
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY IMGSINK_THREAD_ANNOTATION_(scoped_lockable)
#endif

// A data member that may be read or written only while holding the given capability.
#ifndef GUARDED_BY
#define GUARDED_BY(x) IMGSINK_THREAD_ANNOTATION_(guarded_by(x))
#endif

// A pointer member whose pointee may be accessed only while holding the given capability.
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) IMGSINK_THREAD_ANNOTATION_(pt_guarded_by(x))
#endif

// Lock ordering: this capability is acquired before / after the given ones.
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) IMGSINK_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) IMGSINK_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#endif

// A function whose caller must hold the given capabilities (and still holds them on return).
#ifndef REQUIRES
#define REQUIRES(...) IMGSINK_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#endif

// A function whose caller must not hold the given capabilities (typically: it acquires them).
#ifndef EXCLUDES
#define EXCLUDES(...) IMGSINK_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#endif

// A function that acquires / releases the given capabilities (`this` when empty).
#ifndef ACQUIRE
#define ACQUIRE(...) IMGSINK_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) IMGSINK_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#endif

// A function that aborts (or is a no-op in release builds) unless the capability is held; the
// analysis treats it as held afterwards.
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) IMGSINK_THREAD_ANNOTATION_(assert_capability(x))
#endif

// A function that returns a reference to the given capability.
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) IMGSINK_THREAD_ANNOTATION_(lock_returned(x))
#endif

// Turns the analysis off for one function.  Say why next to every use.
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS IMGSINK_THREAD_ANNOTATION_(no_thread_safety_analysis)
#endif

#endif  // IMGSINK_SYNC_THREAD_ANNOTATIONS_H_
