// Clang's thread-safety analysis (-Wthread-safety): attributes that say which
// mutex guards a member and which lock a function needs, checked at compile
// time. Empty for compilers without the analysis (gcc). See mutex.h for the
// annotated mutex every guarded member uses.
#pragma once

#if defined(__clang__)
#define CHANFS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CHANFS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CHANFS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CHANFS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CHANFS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CHANFS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_AFTER(...) CHANFS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) CHANFS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define REQUIRES(...) CHANFS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) CHANFS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) CHANFS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) CHANFS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) CHANFS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) CHANFS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS CHANFS_THREAD_ANNOTATION(no_thread_safety_analysis)
