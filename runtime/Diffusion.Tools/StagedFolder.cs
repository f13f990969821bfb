using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Diffusion.Tools;

/// <summary>
/// Replaces a folder as a whole: the new content is built in a hidden sibling (<c>.NAME.PID.GUID.tmp</c>), seeded with
/// the target's files that the writer does not own (a model folder's judges, a user's notes), and swapped in by
/// <see cref="Commit"/>. Until then the target is untouched, so a failure or a kill at any point leaves it exactly as
/// it was; readers see the old folder or the new one, never a mix. On Linux the swap is one atomic
/// <c>renameat2(RENAME_EXCHANGE)</c>; elsewhere (or on a file system without it) two renames, with a moment in between
/// where the target is absent, never partial. Disposing without <see cref="Commit"/> deletes the staging folder.
/// Staging folders of ended processes beside the target are removed when the next one starts.
/// </summary>
public sealed class StagedFolder : IDisposable
{
    // .NAME.PID.GUID.tmp, as AtomicFile names temporary files; .NAME.PID.GUID.old for the two-rename fallback
    private static readonly Regex s_temp = new(@"^\..+\.(\d+)\.[0-9a-f]{32}\.(tmp|old)$", RegexOptions.CultureInvariant);
    private bool _committed;

    private StagedFolder(string target, string path) { Target = target; Path = path; }

    /// <summary>The folder being replaced (full path).</summary>
    public string Target { get; }

    /// <summary>The staging folder: write the new content here.</summary>
    public string Path { get; }

    /// <summary>Starts replacing <paramref name="target"/>: a staging folder holding a copy of every entry of the target except <paramref name="owned"/>.</summary>
    /// <param name="target">The folder to replace (need not exist).</param>
    /// <param name="owned">Names (in the target's top level) that the writer writes anew or drops: they are not copied.</param>
    public static StagedFolder Begin(string target, IEnumerable<string> owned)
    {
        string full = System.IO.Path.GetFullPath(target).TrimEnd(System.IO.Path.DirectorySeparatorChar);
        string parent = System.IO.Path.GetDirectoryName(full) ?? throw new InvalidOperationException($"{target}: a root folder cannot be replaced.");
        Directory.CreateDirectory(parent);
        RemoveStale(parent);
        string staging = System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        var folder = new StagedFolder(full, staging);
        try
        {
            if (Directory.Exists(full))
            {
                var skip = new HashSet<string>(owned, StringComparer.Ordinal) { FolderLock.FileName };
                CopyTree(full, staging, skip);
            }
            return folder;
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>Swaps the staging folder in for the target; the old content is deleted.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        if (!Directory.Exists(Target))
        {
            Directory.Move(Path, Target);
        }
        else if (!(OperatingSystem.IsLinux() && Exchange(Path, Target)))
        {
            string old = System.IO.Path.ChangeExtension(Path, ".old");
            Directory.Move(Target, old);
            Directory.Move(Path, Target);
            Directory.Move(old, Path);
        }
        _committed = true;
        DeleteTree(Path); // the old content, now under the staging name
    }

    /// <summary>Deletes the staging folder unless it was committed.</summary>
    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        DeleteTree(Path);
    }

    /// <summary>Removes the staging folders of ended processes in <paramref name="parent"/>; returns how many.</summary>
    public static int RemoveStale(string parent)
    {
        int removed = 0;
        try
        {
            foreach (var d in Directory.EnumerateDirectories(parent, ".*"))
            {
                var m = s_temp.Match(System.IO.Path.GetFileName(d));
                if (!m.Success || !int.TryParse(m.Groups[1].Value, out int pid) || ProcessInfo.IsRunning(pid)) continue;
                if (DeleteTree(d)) removed++;
            }
        }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
        return removed;
    }

    private static void CopyTree(string from, string to, HashSet<string>? skip)
    {
        foreach (var f in Directory.EnumerateFiles(from))
        {
            string name = System.IO.Path.GetFileName(f);
            if (skip?.Contains(name) == true) continue;
            File.Copy(f, System.IO.Path.Combine(to, name));
        }
        foreach (var d in Directory.EnumerateDirectories(from))
        {
            string name = System.IO.Path.GetFileName(d);
            if (skip?.Contains(name) == true) continue;
            string sub = System.IO.Path.Combine(to, name);
            Directory.CreateDirectory(sub);
            CopyTree(d, sub, null);
        }
    }

    private static bool DeleteTree(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); return true; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, int newDirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    // Atomically exchanges two paths; false when the C library or the file system does not support it.
    private static bool Exchange(string a, string b)
    {
        try { return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0; }
        catch (EntryPointNotFoundException) { return false; }
        catch (DllNotFoundException) { return false; }
    }
}
