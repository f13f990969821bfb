using System.Globalization;
using Diffusion.Runtime;

namespace Diffusion.Tools;

/// <summary>
/// One writer per output folder: a <c>.lock</c> file holding the writer's process id, created exclusively and removed
/// when the writer is done. A second writer is refused while the first runs; a lock left by a process that has ended
/// (killed, crashed) is taken over with a message.
/// </summary>
public sealed class FolderLock : IDisposable
{
    /// <summary>The lock file's name inside the folder.</summary>
    public const string FileName = ".lock";

    private FileStream? _stream;

    private FolderLock(string path, FileStream stream) { Path = path; _stream = stream; }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>Locks <paramref name="dir"/> (creating it) for this process.</summary>
    /// <param name="dir">The output folder.</param>
    /// <param name="what">What the folder is, capitalised, for the message ("Run folder").</param>
    /// <param name="log">Told when a dead process's lock is taken over.</param>
    /// <exception cref="InvalidInputException">Another running process holds the folder; the message names it and the lock file.</exception>
    public static FolderLock Acquire(string dir, string what, Action<string>? log = null)
    {
        Directory.CreateDirectory(dir);
        return AcquireFile(System.IO.Path.Combine(dir, FileName), dir, what, log);
    }

    /// <summary>
    /// Locks <paramref name="dir"/> with a lock file beside it, <c>.NAME.lock</c> in its parent folder: for a folder
    /// that is replaced as a whole (<see cref="StagedFolder"/>), where a lock inside would be swapped away.
    /// </summary>
    /// <inheritdoc cref="Acquire" path="/param"/>
    /// <inheritdoc cref="Acquire" path="/exception"/>
    public static FolderLock AcquireBeside(string dir, string what, Action<string>? log = null)
    {
        string full = System.IO.Path.GetFullPath(dir).TrimEnd(System.IO.Path.DirectorySeparatorChar);
        string parent = System.IO.Path.GetDirectoryName(full) ?? full;
        Directory.CreateDirectory(parent);
        return AcquireFile(System.IO.Path.Combine(parent, $".{System.IO.Path.GetFileName(full)}{FileName}"), dir, what, log);
    }

    private static FolderLock AcquireFile(string path, string dir, string what, Action<string>? log)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
                var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
                fs.Write(pid);
                fs.Flush(flushToDisk: true);
                return new FolderLock(path, fs);
            }
            catch (IOException) when (attempt == 0 && File.Exists(path))
            {
                string text = "";
                try { text = File.ReadAllText(path).Trim(); } catch (IOException) { }
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int owner) && ProcessInfo.IsRunning(owner))
                    throw new InvalidInputException($"{what} {dir} is in use by process {owner} (lock file {path}); wait for it to finish or stop it.");
                log?.Invoke($"taking over {path}: its process ({(text.Length == 0 ? "unknown" : text)}) has ended");
                try { File.Delete(path); } catch (IOException) { }
            }
        }
    }

    /// <summary>Releases the folder.</summary>
    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
