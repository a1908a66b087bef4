using static TorchSharp.torch;

namespace ParNet.Runtime;

/// <summary>libtorch's global random generator, which every initialization draws from.</summary>
public static class RandomState
{
    static readonly object Gate = new();

    /// <summary><paramref name="make"/> (a model built, then perhaps loaded with weights), with the global generator put back
    /// as it was: a caller's seeded sequence goes on as if nothing had been built (library audit, session 39: opening a
    /// predictor moved a user's `rand` after `manual_seed`; the trainer's EMA copy would have moved the dropout masks). One
    /// at a time in the process, so that a <paramref name="make"/> that seeds the generator draws its own sequence alone,
    /// and no other's restore lands in the middle of it (what the caller's own threads draw meanwhile is theirs to order).</summary>
    public static T Kept<T>(Func<T> make)
    {
        lock (Gate)
        {
            using var saved = random.get_rng_state();
            try { return make(); }
            finally { random.set_rng_state(saved); }
        }
    }
}
