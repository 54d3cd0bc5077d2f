// Row-by-row PNG writing: libpng reports errors by longjmp, which Swift cannot catch, so the
// whole write stays inside this function. Rows come from a callback, so a large image is
// encoded without first building its full RGB buffer.
#include "image_shims.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    jmp_buf jump;
    char *err;
    size_t err_length;
    uint8_t *data;
    size_t size, capacity;
} png_sink;

static void on_error(png_structp png, png_const_charp message) {
    png_sink *sink = png_get_error_ptr(png);
    snprintf(sink->err, sink->err_length, "%s", message);
    longjmp(sink->jump, 1);
}

static void on_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void on_write(png_structp png, png_bytep bytes, png_size_t length) {
    png_sink *sink = png_get_io_ptr(png);
    if (sink->size + length > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 65536;
        while (capacity < sink->size + length) capacity *= 2;
        uint8_t *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory for the encoded PNG");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, length);
    sink->size += length;
}

static void on_flush(png_structp png) { (void)png; }

int segserve_png_write_rows(int width, int height, int channels, segserve_png_row_fn row_fn, void *context,
                            uint8_t **out, size_t *out_length, char *err, size_t err_length) {
    *out = NULL;
    *out_length = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
        snprintf(err, err_length, "cannot write a %dx%d PNG of %d channels", width, height, channels);
        return -1;
    }
    // On the heap, not in this frame: what the callbacks change survives a longjmp.
    png_sink *sink = calloc(1, sizeof *sink);
    png_structp png = sink ? png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_error, on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *row = malloc((size_t)width * (size_t)channels);
    if (!sink || !png || !info || !row) {
        snprintf(err, err_length, "out of memory for a PNG writer");
        png_destroy_write_struct(&png, &info);
        free(row);
        free(sink);
        return -1;
    }
    sink->err = err;
    sink->err_length = err_length;
    if (setjmp(sink->jump)) {
        png_destroy_write_struct(&png, &info);
        free(row);
        free(sink->data);
        free(sink);
        return -1;
    }
    png_set_write_fn(png, sink, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) {
        row_fn(context, y, row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    *out = sink->data;
    *out_length = sink->size;
    free(sink);
    return 0;
}

void segserve_png_free(uint8_t *data) { free(data); }
