"""Protocol-free MIME: messages parsed by byte offset (structure), header syntax
(headers, address) and decoded text for searching (text)."""
