namespace ParNet.Runtime;

/// <summary>
/// Reads a file the user named whole, up to a size: File.ReadAllBytes reads a file without a size (a device such as
/// /dev/zero, given by mistake) until the process runs out of memory and aborts. Pipes and process substitution still work.
/// </summary>
public static class BoundedFile
{
    /// <summary>
    /// The file's bytes: a regular file's in one array of its size; a file without a size in pieces. More than
    /// <paramref name="maxBytes"/> is an InvalidDataException naming the file and <paramref name="what"/> it should be.
    /// Missing and unreadable files throw as File.ReadAllBytes does.
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long length = stream.CanSeek ? stream.Length : 0;
        if (length > maxBytes) throw TooLong(path, maxBytes, what);
        if (length > 0)
        {
            var all = new byte[length];
            stream.ReadExactly(all);
            return all;
        }
        using var bytes = new MemoryStream();
        var piece = new byte[64 * 1024];
        for (int n; (n = stream.Read(piece)) > 0;)
        {
            if (bytes.Length + n > maxBytes) throw TooLong(path, maxBytes, what);
            bytes.Write(piece, 0, n);
        }
        return bytes.ToArray();
    }

    /// <summary>The file as text (UTF-8 unless a byte order mark says otherwise, as File.ReadAllText), bounded as <see cref="ReadAllBytes"/>.</summary>
    public static string ReadAllText(string path, long maxBytes, string what)
    {
        using var reader = new StreamReader(new MemoryStream(ReadAllBytes(path, maxBytes, what)), detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    static InvalidDataException TooLong(string path, long maxBytes, string what) => new(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{path}: more than {maxBytes:N0} bytes, larger than any {what} (a device such as /dev/zero?)"));
}
