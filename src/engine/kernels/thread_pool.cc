// ThreadPool: persistent workers that spin briefly on a generation counter (a decode step issues
// hundreds of back-to-back parallel_for calls, microseconds apart) and then block on a condition
// variable, so an idle engine costs no CPU. parallel_for allocates nothing: the job is a pointer to the
// caller's std::function, valid until every worker has reported done.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/kernels/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define IM_CPU_PAUSE() _mm_pause()
#else
#define IM_CPU_PAUSE() std::this_thread::yield()
#endif

namespace ironmill::engine {
namespace {
// ~50-100 us of pause instructions before a worker sleeps; long enough to bridge the gap between the
// matvecs of one layer, short enough not to steal a shared core from other processes for long.
constexpr int kSpinIterations = 20000;
}  // namespace

struct ThreadPool::Impl {
  int threads = 1;
  std::vector<std::thread> workers;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  const std::function<void(int64_t, int64_t)>* job = nullptr;
  int64_t job_n = 0;

  void run_chunk(int index) const {
    const int64_t begin = job_n * index / threads, end = job_n * (index + 1) / threads;
    if (begin < end) (*job)(begin, end);
  }

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      for (int s = 0; g == seen && s < kSpinIterations; ++s) {
        IM_CPU_PAUSE();
        g = generation.load(std::memory_order_acquire);
      }
      if (g == seen) {
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop.load() || generation.load(std::memory_order_seq_cst) != seen; });
        sleepers.fetch_sub(1, std::memory_order_relaxed);
        g = generation.load(std::memory_order_acquire);
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = g;
      run_chunk(index);
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  impl_->threads = threads < 1 ? 1 : threads;
  impl_->workers.reserve(impl_->threads - 1);
  for (int i = 1; i < impl_->threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true);
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int ThreadPool::size() const { return impl_->threads; }

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Impl& s = *impl_;
  if (s.threads == 1 || n == 1) {
    fn(0, n);
    return;
  }
  s.job = &fn;
  s.job_n = n;
  s.pending.store(s.threads - 1, std::memory_order_relaxed);
  s.generation.fetch_add(1, std::memory_order_seq_cst);  // publishes job/job_n
  if (s.sleepers.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(s.mu); }  // a worker between its check and wait() is now waiting
    s.cv.notify_all();
  }
  s.run_chunk(0);
  for (int spins = 0; s.pending.load(std::memory_order_acquire) > 0; ++spins) {
    if (spins < kSpinIterations) IM_CPU_PAUSE();
    else std::this_thread::yield();
  }
}

}  // namespace ironmill::engine
