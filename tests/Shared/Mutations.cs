using System.Text;

namespace Diffusion.Tests.Shared;

/// <summary>One mutated copy of a file: what was done (with the seed, to replay it) and the bytes.</summary>
/// <param name="What">The mutation, e.g. "seed 17: flip 3 bits at 1,204".</param>
/// <param name="Bytes">The mutated content.</param>
public sealed record Mutation(string What, byte[] Bytes);

/// <summary>
/// Seeded mutations of a user's file for the readers' fuzz tests (issue 15): truncations, bit flips, bytes set to
/// extreme values, 32-/64-bit fields overwritten with extreme numbers (sizes, counts, lengths), inserted, deleted
/// and duplicated ranges, appended garbage, and for text files token-level edits (a value replaced by null, a huge
/// or negative number, another type; a key dropped). Mutation i of a seed is always the same bytes, so a failure is
/// replayed by its description.
/// </summary>
public static class Mutations
{
    private static readonly long[] Extremes = [0, 1, -1, 255, 65535, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 1L << 40];
    private static readonly string[] JsonValues = ["null", "-1", "0", "1e309", "-1e309", "99999999999999999999", "2147483648", "\"\"", "\"x\"", "[]", "{}", "true", "[null]", "NaN", "\"NaN\"", "1.5"];

    /// <summary><paramref name="count"/> mutations of <paramref name="original"/>, from <paramref name="seed"/>.</summary>
    /// <param name="original">The valid file.</param>
    /// <param name="count">How many.</param>
    /// <param name="seed">Seed of the whole sequence.</param>
    /// <param name="text">Also token-level edits for a text (JSON) file.</param>
    /// <param name="reseal">Applied to every other mutation, e.g. to fix a stored length and hash so that the
    /// mutation reaches the parser behind an integrity check; null: none.</param>
    public static IEnumerable<Mutation> Of(byte[] original, int count, int seed, bool text = false, Func<byte[], byte[]?>? reseal = null)
    {
        for (int i = 0; i < count; i++)
        {
            var rng = new Random(unchecked(seed * 1_000_003 + i)); // not HashCode.Combine: randomised per process
            var (what, bytes) = Mutate(original, rng, text);
            if (reseal is not null && i % 2 == 1 && reseal(bytes) is { } sealedBytes)
                (what, bytes) = (what + ", resealed", sealedBytes);
            yield return new Mutation($"seed {seed} #{i}: {what}", bytes);
        }
    }

    private static (string, byte[]) Mutate(byte[] a, Random rng, bool text)
    {
        int n = a.Length;
        int Pos() => n == 0 ? 0 : rng.Next(n);
        int kind = rng.Next(text ? 11 : 9);
        switch (kind)
        {
            case 0:
            {
                int len = rng.Next(4) == 0 ? rng.Next(Math.Min(n, 64) + 1) : rng.Next(n);
                return ($"truncate to {len} of {n} bytes", a[..len]);
            }
            case 1:
            {
                var b = (byte[])a.Clone();
                int bits = 1 + rng.Next(8);
                var at = new List<int>();
                for (int k = 0; k < bits && n > 0; k++) { int p = Pos(); b[p] ^= (byte)(1 << rng.Next(8)); at.Add(p); }
                return ($"flip {bits} bits at {string.Join(",", at)}", b);
            }
            case 2:
            {
                var b = (byte[])a.Clone();
                int p = Pos();
                byte v = (byte)(rng.Next(3) switch { 0 => 0, 1 => 0xff, _ => rng.Next(256) });
                if (n > 0) b[p] = v;
                return ($"byte {p} = 0x{v:x2}", b);
            }
            case 3:
            {
                // a 32- or 64-bit field (little- or big-endian) set to an extreme value: sizes, counts, lengths
                var b = (byte[])a.Clone();
                int width = rng.Next(2) == 0 ? 4 : 8;
                if (n < width) return ("too short for a field; unchanged", b);
                // headers are at the start: bias toward the first 64 bytes
                int p = rng.Next(2) == 0 ? rng.Next(Math.Min(64, n - width + 1)) : rng.Next(n - width + 1);
                long v = Extremes[rng.Next(Extremes.Length)];
                bool big = rng.Next(2) == 0;
                var bytes = width == 4 ? BitConverter.GetBytes((int)v) : BitConverter.GetBytes(v);
                if (big) Array.Reverse(bytes);
                bytes.CopyTo(b, p);
                return ($"{width * 8}-bit {(big ? "big" : "little")}-endian field at {p} = {v}", b);
            }
            case 4:
            {
                int p = Pos(), len = 1 + rng.Next(64);
                var ins = new byte[len];
                rng.NextBytes(ins);
                return ($"insert {len} random bytes at {p}", [.. a[..p], .. ins, .. a[p..]]);
            }
            case 5:
            {
                int p = Pos(), len = Math.Min(n - p, 1 + rng.Next(rng.Next(2) == 0 ? 16 : 4096));
                return ($"delete {len} bytes at {p}", [.. a[..p], .. a[(p + len)..]]);
            }
            case 6:
            {
                int p = Pos(), len = Math.Min(n - p, 1 + rng.Next(256)), q = Pos();
                return ($"copy {len} bytes from {p} to {q}", [.. a[..q], .. a[p..(p + len)], .. a[q..]]);
            }
            case 7:
            {
                var tail = new byte[1 + rng.Next(512)];
                rng.NextBytes(tail);
                return ($"append {tail.Length} random bytes", [.. a, .. tail]);
            }
            case 8:
            {
                var b = (byte[])a.Clone();
                int p = Pos(), len = Math.Min(n - p, 1 + rng.Next(1024));
                Array.Clear(b, p, len);
                return ($"zero {len} bytes at {p}", b);
            }
            case 9:
            {
                // a JSON value (after a ':' or inside an array) replaced by another value or type
                string s = Encoding.UTF8.GetString(a);
                var colons = Enumerable.Range(0, s.Length).Where(i => s[i] == ':' || s[i] == '[').ToList();
                if (colons.Count == 0) return ("no value to replace; unchanged", a);
                int c = colons[rng.Next(colons.Count)] + 1;
                int end = ValueEnd(s, c);
                string v = JsonValues[rng.Next(JsonValues.Length)];
                return ($"value at {c} ('{Clip(s[c..end])}') = {v}", Encoding.UTF8.GetBytes(s[..c] + " " + v + s[end..]));
            }
            default:
            {
                // a "key": value line dropped
                string s = Encoding.UTF8.GetString(a);
                var lines = s.Split('\n').ToList();
                var keys = Enumerable.Range(0, lines.Count).Where(i => lines[i].TrimStart().StartsWith('"')).ToList();
                if (keys.Count == 0) return ("no key to drop; unchanged", a);
                int k = keys[rng.Next(keys.Count)];
                string dropped = lines[k].Trim();
                lines.RemoveAt(k);
                return ($"drop line '{Clip(dropped)}'", Encoding.UTF8.GetBytes(string.Join('\n', lines)));
            }
        }
    }

    // end of the JSON value starting at c: the next ',' '}' ']' outside a string, at the same depth
    private static int ValueEnd(string s, int c)
    {
        int depth = 0; bool str = false;
        for (int i = c; i < s.Length; i++)
        {
            char ch = s[i];
            if (str) { if (ch == '\\') i++; else if (ch == '"') str = false; continue; }
            if (ch == '"') str = true;
            else if (ch is '[' or '{') depth++;
            else if (ch is ']' or '}') { if (depth == 0) return i; depth--; }
            else if (ch == ',' && depth == 0) return i;
        }
        return s.Length;
    }

    /// <summary>The innermost frame of an exception, for a failure line.</summary>
    public static string Where(Exception e) => "at " + (e.StackTrace?.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim() ?? "?");

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "...";

    /// <summary>
    /// Runs <paramref name="load"/> on every mutation written to <paramref name="path"/>: each must load (then
    /// <paramref name="check"/> may look at the result) or throw <typeparamref name="TError"/> with a message that
    /// names <paramref name="mustName"/>. Returns the failures (empty when every mutation held), one line each.
    /// </summary>
    public static List<string> Run<TError>(IEnumerable<Mutation> mutations, string path, Action<string> load, string mustName) where TError : Exception
    {
        var failures = new List<string>();
        foreach (var m in mutations)
        {
            File.WriteAllBytes(path, m.Bytes);
            try { load(path); }
            catch (TError e) when (e.Message.Contains(mustName, StringComparison.Ordinal)) { }
            catch (Exception e)
            {
                failures.Add($"{m.What}: {e.GetType().Name}: {e.Message.Split('\n')[0]} {Where(e)}");
            }
        }
        return failures;
    }
}
