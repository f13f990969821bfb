namespace Diffusion.Tools;

/// <summary>
/// Writes files so that a crash or an error never leaves a partial file at the destination: the content goes
/// to a temporary file in the same folder (<c>.NAME.PID.GUID.tmp</c>), which is flushed and then renamed over the
/// destination. A process killed mid-write leaves its temporary file behind; this process's first write in that
/// folder removes every such file whose process is gone (once per folder: a folder of a thousand PNGs is not listed
/// a thousand times).
/// </summary>
public static class AtomicFile
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> s_cleaned = new(StringComparer.Ordinal);

    // .NAME.PID.GUID.tmp: this project's temporary files (AtomicFile, the ONNX builder's Save, the runtime's graph cache)
    private static readonly System.Text.RegularExpressions.Regex s_temp = new(@"^\..+\.(\d+)\.[0-9a-f]{32}\.tmp$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>Deletes the temporary files of this project's naming in <paramref name="dir"/> whose process has ended; returns how many.</summary>
    public static int RemoveStaleTemporaries(string dir)
    {
        int removed = 0;
        try
        {
            foreach (var f in Directory.EnumerateFiles(dir, ".*.tmp"))
            {
                var m = s_temp.Match(Path.GetFileName(f));
                if (!m.Success || !int.TryParse(m.Groups[1].Value, out int pid) || ProcessInfo.IsRunning(pid)) continue;
                try { File.Delete(f); removed++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
        return removed;
    }

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; on any exception nothing is left behind.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        if (s_cleaned.TryAdd(dir, true)) RemoveStaleTemporaries(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (ArgumentOutOfRangeException e) when (e.TargetSite?.DeclaringType == typeof(RandomAccess))
        {
            // .NET reports write(2)'s EFBIG (a file-size limit: FAT32, RLIMIT_FSIZE, a quota) as an argument error:
            // it is a file-system failure like a full disk
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"{full}: the file system refused to let the file grow ({e.Message.Split(" (Parameter", 2)[0].Trim()})", e);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes all bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes UTF-8 text atomically.</summary>
    public static void WriteAllText(string path, string text)
        => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));
}
