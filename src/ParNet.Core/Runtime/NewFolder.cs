using System.Runtime.InteropServices;

namespace ParNet.Runtime;

/// <summary>
/// A folder made by this process alone: <c>mkdir(2)</c> fails on a folder that exists, where .NET's CreateDirectory takes
/// it as made. Two `parnet train` started in the same second (a sweep's `for lr in ...; do parnet train --lr $lr &amp; done`)
/// both took the default runs/RECIPE-yyyyMMdd-HHmmss and trained into one folder, each replacing the other's files
/// (environment audit, session 37); the second now gets RECIPE-yyyyMMdd-HHmmss-2.
/// </summary>
public static class NewFolder
{
    [DllImport("libc", EntryPoint = "mkdir", SetLastError = true)]
    static extern int MakeDirectory(string path, uint mode);

    const int AlreadyExists = 17;   // EEXIST

    /// <summary>Makes <paramref name="path"/>, or the first of PATH-2, PATH-3, ... that no one has made; the one made.
    /// Its parent folders are made as needed.</summary>
    public static string Make(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        for (int n = 1; ; n++)
        {
            string candidate = n == 1 ? path : $"{path}-{n}";
            if (!OperatingSystem.IsLinux())
            {
                if (Directory.Exists(candidate) || File.Exists(candidate)) continue;
                Directory.CreateDirectory(candidate);
                return candidate;
            }
            if (MakeDirectory(candidate, Convert.ToUInt32("777", 8)) == 0) return candidate;   // less the umask, as mkdir(1)
            int error = Marshal.GetLastPInvokeError();
            if (error != AlreadyExists)
                throw new IOException($"{candidate}: the folder cannot be made ({Marshal.GetPInvokeErrorMessage(error)})");
        }
    }
}
